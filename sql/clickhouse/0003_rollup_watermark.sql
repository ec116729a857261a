-- Provisional rollups of the days not closed yet (today, and yesterday during the first hour): the rollup job
-- computes them every run from the events before its watermark `until`; readers take the events from `until` on
-- from raw events. A closed (final) day has `until` = 0 (1970-01-01).
ALTER TABLE rollup_days ADD COLUMN IF NOT EXISTS until DateTime64(3, 'UTC') DEFAULT toDateTime64(0, 3, 'UTC');
