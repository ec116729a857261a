-- Daily rollups of each site's events, (re)computed from `events` by the rollup job (trail/stats/rollup_job.py);
-- read by the stats planner (trail/stats/rollup_planner.py) for large sites. Nothing writes here on ingestion,
-- so retried/deduplicated event batches cannot reach these tables: a day is always recomputed from `events`.
--
-- One row per (site, local day in the site's timezone, dimension, value, generation). dim '' is the whole site
-- (top stats, time series); visit dimensions attribute a visit to the local day it STARTED; event dimensions
-- (event:page, event:name) count visitors/pageviews/events on the day of the event and visit numbers on the
-- visit's start day. (0004 replaced the `visitors` HLL sketch with exact visitors_day / visitors_prev.)
-- A recomputation inserts a new generation, points rollup_days at it, and the next run deletes older ones.
CREATE TABLE IF NOT EXISTS rollup_daily
(
    site_id          UInt32,
    day              Date,
    dim              LowCardinality(String),
    value            String,
    gen              UInt64,
    visitors         AggregateFunction(uniqCombined64, UInt64),
    pageviews        SimpleAggregateFunction(sum, UInt64),
    events           SimpleAggregateFunction(sum, UInt64),
    visits           SimpleAggregateFunction(sum, UInt64),  -- visits starting that day (with the value)
    bounces          SimpleAggregateFunction(sum, UInt64),  -- bounced visits among bounce_visits
    bounce_visits    SimpleAggregateFunction(sum, UInt64),  -- visits counted for bounce_rate (event:page: entered on it)
    duration         SimpleAggregateFunction(sum, UInt64),  -- sum of visit durations, s
    visit_pageviews  SimpleAggregateFunction(sum, UInt64)   -- sum of the visits' pageviews (views_per_visit)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, dim, day, value, gen);

-- Which local days of a site are rolled up, in which timezone and generation (the newest computed_at wins).
CREATE TABLE IF NOT EXISTS rollup_days
(
    site_id     UInt32,
    day         Date,
    tz          String,
    gen         UInt64,
    events      UInt64,                 -- events of that local day when computed (late-event detection, planner size)
    first_day   Date,                   -- the site's first local day with events when computed (earlier days: empty)
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (site_id, day);
