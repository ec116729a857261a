-- Visit fragments: one row per (site, UTC hour, session) with the visit's decomposable aggregates, fed by a
-- materialized view on every INSERT into events. Any hour-aligned date range gets its per-visit rows (clipped to the
-- range, exactly as the raw-events subquery computes them) by merging the fragments of its hours per session_id
-- (trail/stats/sources.py): ~4x fewer rows than events, and each visit attribute is a column of its own, read only
-- when a query needs it. Visit attributes are those of the visit's first pageview/custom event (argMinIf states),
-- the exit page that of its last.
-- Exactly once: a retried INSERT into events carries the same insert_deduplication_token; the view's block is then
-- deduplicated too (deduplicate_blocks_in_dependent_materialized_views = 1, set by the stores on token inserts and
-- the default in 26.x; the target keeps a dedup window like events). Site deletion must delete here too:
-- trail.stats.storage.delete_site_events.
CREATE TABLE IF NOT EXISTS session_parts
(
    site_id          UInt32,
    hour             DateTime('UTC'),
    session_id       UInt64,
    visitor_id       SimpleAggregateFunction(any, UInt64),
    start            SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    end              SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    pageviews        SimpleAggregateFunction(sum, UInt64),
    events           SimpleAggregateFunction(sum, UInt64),
    interactions     SimpleAggregateFunction(sum, UInt64),  -- pageviews + interactive custom events (bounce: <= 1)
    entry_page       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    source           AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    referrer         AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_source       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_medium       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_campaign     AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_term         AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_content      AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    country          AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    region           AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    city             AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    device           AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    browser          AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    browser_version  AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    os               AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    os_version       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    screen           AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    exit_page        AggregateFunction(argMaxIf, String, DateTime64(3, 'UTC'), UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, session_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_parts_mv TO session_parts AS
SELECT
    site_id,
    toStartOfHour(ts) AS hour,
    session_id,
    any(visitor_id) AS visitor_id,
    min(ts) AS start,
    max(ts) AS end,
    countIf(name = 'pageview') AS pageviews,
    countIf(name != 'engagement') AS events,
    countIf(name != 'engagement' AND (name = 'pageview' OR interactive = 1)) AS interactions,
    argMinIfState(pathname, ts, name != 'engagement') AS entry_page,
    argMinIfState(toString(source), ts, name != 'engagement') AS source,
    argMinIfState(referrer, ts, name != 'engagement') AS referrer,
    argMinIfState(toString(utm_source), ts, name != 'engagement') AS utm_source,
    argMinIfState(toString(utm_medium), ts, name != 'engagement') AS utm_medium,
    argMinIfState(toString(utm_campaign), ts, name != 'engagement') AS utm_campaign,
    argMinIfState(toString(utm_term), ts, name != 'engagement') AS utm_term,
    argMinIfState(toString(utm_content), ts, name != 'engagement') AS utm_content,
    argMinIfState(toString(country), ts, name != 'engagement') AS country,
    argMinIfState(toString(region), ts, name != 'engagement') AS region,
    argMinIfState(toString(city), ts, name != 'engagement') AS city,
    argMinIfState(toString(device), ts, name != 'engagement') AS device,
    argMinIfState(toString(browser), ts, name != 'engagement') AS browser,
    argMinIfState(toString(browser_version), ts, name != 'engagement') AS browser_version,
    argMinIfState(toString(os), ts, name != 'engagement') AS os,
    argMinIfState(toString(os_version), ts, name != 'engagement') AS os_version,
    argMinIfState(toString(screen), ts, name != 'engagement') AS screen,
    argMaxIfState(pathname, ts, name != 'engagement') AS exit_page
FROM events
GROUP BY site_id, hour, session_id;

-- Backfill an existing install (migrations run before the writer starts; TRUNCATE makes a re-run idempotent).
TRUNCATE TABLE IF EXISTS session_parts;

INSERT INTO session_parts
SELECT
    site_id,
    toStartOfHour(ts) AS hour,
    session_id,
    any(visitor_id) AS visitor_id,
    min(ts) AS start,
    max(ts) AS end,
    countIf(name = 'pageview') AS pageviews,
    countIf(name != 'engagement') AS events,
    countIf(name != 'engagement' AND (name = 'pageview' OR interactive = 1)) AS interactions,
    argMinIfState(pathname, ts, name != 'engagement') AS entry_page,
    argMinIfState(toString(source), ts, name != 'engagement') AS source,
    argMinIfState(referrer, ts, name != 'engagement') AS referrer,
    argMinIfState(toString(utm_source), ts, name != 'engagement') AS utm_source,
    argMinIfState(toString(utm_medium), ts, name != 'engagement') AS utm_medium,
    argMinIfState(toString(utm_campaign), ts, name != 'engagement') AS utm_campaign,
    argMinIfState(toString(utm_term), ts, name != 'engagement') AS utm_term,
    argMinIfState(toString(utm_content), ts, name != 'engagement') AS utm_content,
    argMinIfState(toString(country), ts, name != 'engagement') AS country,
    argMinIfState(toString(region), ts, name != 'engagement') AS region,
    argMinIfState(toString(city), ts, name != 'engagement') AS city,
    argMinIfState(toString(device), ts, name != 'engagement') AS device,
    argMinIfState(toString(browser), ts, name != 'engagement') AS browser,
    argMinIfState(toString(browser_version), ts, name != 'engagement') AS browser_version,
    argMinIfState(toString(os), ts, name != 'engagement') AS os,
    argMinIfState(toString(os_version), ts, name != 'engagement') AS os_version,
    argMinIfState(toString(screen), ts, name != 'engagement') AS screen,
    argMaxIfState(pathname, ts, name != 'engagement') AS exit_page
FROM events
GROUP BY site_id, hour, session_id;
