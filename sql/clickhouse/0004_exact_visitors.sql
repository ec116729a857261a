-- Exact, additive unique visitors replace the HLL sketch (trail/stats/rollups.py explains why a sum is exact:
-- a visitor id lives one UTC day, so it is a member of a value on at most two consecutive local days).
--   visitors_day:  distinct visitor ids of (day, dim, value)
--   visitors_prev: of those, the ids that were also members of (dim, value) on the local day before
-- Visitors over days a..b = sum(visitors_day) - sum(visitors_prev of the days after a).
-- The old rows carry no such numbers: both tables are emptied and the rollup job computes every day again on its
-- next run (until then the stats planner answers from raw events).
TRUNCATE TABLE IF EXISTS rollup_days;
TRUNCATE TABLE IF EXISTS rollup_daily;
ALTER TABLE rollup_daily DROP COLUMN IF EXISTS visitors;
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS visitors_day SimpleAggregateFunction(sum, UInt64) AFTER gen;
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS visitors_prev SimpleAggregateFunction(sum, UInt64) AFTER visitors_day;
