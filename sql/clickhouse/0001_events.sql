-- Raw events: pageviews, custom events and engagement events, one row each.
-- Sorted for per-site time-range scans; LowCardinality on the report dimensions.
-- Retried batches carry the same insert_deduplication_token, so the window below makes them count once.
CREATE TABLE IF NOT EXISTS events
(
    event_id         UUID,
    site_id          UInt32,
    ts               DateTime64(3, 'UTC'),
    name             LowCardinality(String),          -- 'pageview', 'engagement' or a custom event name
    visitor_id       UInt64,                          -- keyed hash of (daily salt, site, ip, ua); no IP is stored
    session_id       UInt64,                          -- a visit: new after 30 minutes of inactivity
    hostname         LowCardinality(String),
    pathname         String,
    referrer         String,                          -- external referrer URL, truncated; '' when internal/none
    source           LowCardinality(String),          -- 'Google', 'Hacker News', a referrer host, or ''
    utm_source       LowCardinality(String),
    utm_medium       LowCardinality(String),
    utm_campaign     LowCardinality(String),
    utm_term         LowCardinality(String),
    utm_content      LowCardinality(String),
    click_id_param   LowCardinality(String),          -- 'gclid', 'fbclid', ... when present
    country          LowCardinality(String),          -- ISO 3166-1 alpha-2, '' unknown
    region           LowCardinality(String),
    city             LowCardinality(String),
    browser          LowCardinality(String),
    browser_version  LowCardinality(String),
    os               LowCardinality(String),
    os_version       LowCardinality(String),
    device           LowCardinality(String),          -- 'Desktop', 'Mobile', 'Tablet'
    screen           LowCardinality(String),          -- screen size class from screen width: 'Mobile', 'Tablet', 'Laptop', 'Desktop'
    language         LowCardinality(String),
    props            Map(String, String),
    revenue_amount   Nullable(Decimal(18, 3)),
    revenue_currency LowCardinality(String),
    interactive      UInt8,                           -- 0: does not un-bounce a visit
    scroll_depth     UInt8,                           -- engagement events: max scroll depth %, 0-100
    engagement_ms    UInt32                           -- engagement events: engaged time on the page
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), visitor_id, session_id, ts)
SETTINGS non_replicated_deduplication_window = 10000;
