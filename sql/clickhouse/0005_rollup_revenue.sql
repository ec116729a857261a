-- Revenue of the events with a revenue amount, per rollup row (read for event-name revenue goals: the goals
-- widget from rollups). The old rows carry none: both tables are emptied and the job computes every day again.
TRUNCATE TABLE IF EXISTS rollup_days;
TRUNCATE TABLE IF EXISTS rollup_daily;
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS revenue SimpleAggregateFunction(sum, Decimal(38, 3));
ALTER TABLE rollup_daily ADD COLUMN IF NOT EXISTS revenue_n SimpleAggregateFunction(sum, UInt64);
