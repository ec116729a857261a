-- Scroll depth and time on page per page row (event:page, and pairs broken down by page): one (page, visit) group
-- with engagement events counts once, with its deepest scroll and its engaged time (the raw engine's definitions).
-- The old rows carry none: both tables are emptied and the job computes every day again.
TRUNCATE TABLE IF EXISTS rollup_days;
TRUNCATE TABLE IF EXISTS rollup_daily;
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS eng_visits SimpleAggregateFunction(sum, UInt64);
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS eng_scroll SimpleAggregateFunction(sum, UInt64);
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS eng_ms SimpleAggregateFunction(sum, UInt64);
