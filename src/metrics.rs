//! loopbot's own telemetry in the Prometheus text format (`GET /metrics`).
//!
//! One [`Metrics`] per running application (its own registry, so in-process tests do not share
//! counters). Counters and histograms are recorded where things happen; gauges that describe the
//! database (outbox, size, check-ins pending) are read from it at scrape time. A feature whose
//! state is not in a table this module knows (the last summary) sets its gauge through a hook:
//! [`Metrics::set_last_summary`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// What became of one inbound request, when a handler knows more than its status code
/// (e.g. `duplicate`). Handlers put it in the response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct InboundOutcome(pub &'static str);

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    inbound_events: IntCounterVec,
    http_duration: HistogramVec,
    outbox_pending: IntGauge,
    outbox_oldest_age: Gauge,
    outbox_dead_letters: IntGauge,
    discord_requests: IntCounterVec,
    delivery_latency: HistogramVec,
    gateway_connected: IntGauge,
    channels_unreachable: IntGauge,
    discord_token_rejected: IntGauge,
    checkins_pending: IntGauge,
    last_summary: Gauge,
    database_size: IntGauge,
    retention_last_run: Gauge,
    retention_rows: IntCounterVec,
    retention_failures: IntCounterVec,
    health_failures: IntCounterVec,
    lease_changes: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are constants below and registered once per registry: this cannot collide.
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

const LATENCY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let inbound_events = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_inbound_events_total",
                    "Inbound events (POSTs to the API and webhooks) by source and outcome: accepted, duplicate, rejected (4xx), failed (5xx).",
                ),
                &["source", "outcome"],
            )
            .expect("valid metric"),
        );
        let http_duration = register(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "loopbot_http_request_duration_seconds",
                    "HTTP request durations by method, route and status.",
                ),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
        );
        let outbox_pending = register(
            &r,
            IntGauge::new(
                "loopbot_outbox_pending",
                "Outbox rows waiting to be delivered to Discord.",
            )
            .expect("valid metric"),
        );
        let outbox_oldest_age = register(
            &r,
            Gauge::new(
                "loopbot_outbox_oldest_pending_age_seconds",
                "Age of the oldest pending outbox row (0 when none is pending).",
            )
            .expect("valid metric"),
        );
        let outbox_dead_letters = register(
            &r,
            IntGauge::new(
                "loopbot_outbox_dead_letters",
                "Messages Discord refused for good (outbox rows failed and not since delivered): `loopbot outbox failed` lists them, `loopbot outbox retry` re-queues them.",
            )
            .expect("valid metric"),
        );
        let discord_requests = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_discord_api_requests_total",
                    "Discord REST calls made by the delivery worker, by route class and HTTP status (\"error\" when no answer came).",
                ),
                &["route", "status"],
            )
            .expect("valid metric"),
        );
        let delivery_latency = register(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "loopbot_delivery_latency_seconds",
                    "From an event's acceptance (outbox row queued) to Discord confirming the post or edit.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["kind"],
            )
            .expect("valid metric"),
        );
        let gateway_connected = register(
            &r,
            IntGauge::new(
                "loopbot_gateway_connected",
                "1 while the Discord gateway session is ready, else 0.",
            )
            .expect("valid metric"),
        );
        let channels_unreachable = register(
            &r,
            IntGauge::new(
                "loopbot_discord_channels_unreachable",
                "Channels the bot cannot post in (access or permission lost, channel deleted); their messages wait.",
            )
            .expect("valid metric"),
        );
        let discord_token_rejected = register(
            &r,
            IntGauge::new(
                "loopbot_discord_token_rejected",
                "1 while Discord rejects the bot token (401) and nothing is sent, else 0.",
            )
            .expect("valid metric"),
        );
        let checkins_pending = register(
            &r,
            IntGauge::new(
                "loopbot_checkins_pending",
                "Check-ins asked and not yet answered.",
            )
            .expect("valid metric"),
        );
        let last_summary = register(
            &r,
            Gauge::new(
                "loopbot_last_summary_timestamp_seconds",
                "Unix time of the last summary posted (0: none yet).",
            )
            .expect("valid metric"),
        );
        let database_size = register(
            &r,
            IntGauge::new(
                "loopbot_database_size_bytes",
                "Size of the SQLite database file.",
            )
            .expect("valid metric"),
        );
        let retention_last_run = register(
            &r,
            Gauge::new(
                "loopbot_retention_last_run_timestamp_seconds",
                "Unix time retention last pruned the database (0: not yet).",
            )
            .expect("valid metric"),
        );
        let retention_rows = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_retention_rows_total",
                    "Rows retention pruned, by table (inbound_event_body: raw bodies blanked).",
                ),
                &["table"],
            )
            .expect("valid metric"),
        );
        let retention_failures = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_retention_failures_total",
                    "Retention steps that failed, by table (the other tables were still pruned).",
                ),
                &["table"],
            )
            .expect("valid metric"),
        );
        let health_failures = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_health_query_failures_total",
                    "Release health values a check-in shows as unavailable, by query NAME and reason (unreachable, timeout, refused, query_error, no_data, several_series, bad_answer); the log says more.",
                ),
                &["query", "reason"],
            )
            .expect("valid metric"),
        );
        let lease_changes = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "loopbot_lease_changes_total",
                    "Leases this replica took or lost, by lease name (job:<name>, outbox, gateway:shard:<n>) and change (acquired, lost, released).",
                ),
                &["lease", "change"],
            )
            .expect("valid metric"),
        );
        let build = register(
            &r,
            IntGauge::with_opts(
                Opts::new("loopbot_build_info", "Always 1; the version is a label.")
                    .const_label("version", env!("CARGO_PKG_VERSION")),
            )
            .expect("valid metric"),
        );
        build.set(1);
        Self(Arc::new(Inner {
            registry: r,
            inbound_events,
            http_duration,
            outbox_pending,
            outbox_oldest_age,
            outbox_dead_letters,
            discord_requests,
            delivery_latency,
            gateway_connected,
            channels_unreachable,
            discord_token_rejected,
            checkins_pending,
            last_summary,
            database_size,
            retention_last_run,
            retention_rows,
            retention_failures,
            health_failures,
            lease_changes,
        }))
    }

    pub fn inbound_event(&self, source: &str, outcome: &str) {
        self.0
            .inbound_events
            .with_label_values(&[source, outcome])
            .inc();
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.0
            .http_duration
            .with_label_values(&[method, route, &status.to_string()])
            .observe(took.as_secs_f64());
    }

    /// `route` is a class (`create_message`, `edit_message`), never a URL with ids in it.
    pub fn discord_request(&self, route: &str, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.0
            .discord_requests
            .with_label_values(&[route, &status])
            .inc();
    }

    /// `kind`: `post` or `edit`.
    pub fn delivered(&self, kind: &str, latency: Duration) {
        self.0
            .delivery_latency
            .with_label_values(&[kind])
            .observe(latency.as_secs_f64());
    }

    /// Check-ins scheduled or open (read from the `checkin` table at scrape time).
    pub fn set_checkins_pending(&self, pending: i64) {
        self.0.checkins_pending.set(pending);
    }

    /// Hook for the summary feature: when the last summary was posted.
    pub fn set_last_summary(&self, at: DateTime<Utc>) {
        self.0
            .last_summary
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    pub fn set_retention_run(&self, at: DateTime<Utc>) {
        self.0
            .retention_last_run
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// One retention step's outcome; every table's series exists after the first pass.
    pub fn retention_table(&self, table: &str, rows: u64, failed: bool) {
        self.0
            .retention_rows
            .with_label_values(&[table])
            .inc_by(rows);
        self.0
            .retention_failures
            .with_label_values(&[table])
            .inc_by(u64::from(failed));
    }

    /// A release health value could not be read (`query` is a configured NAME: few series).
    pub fn health_query_failed(&self, query: &str, reason: &str) {
        self.0
            .health_failures
            .with_label_values(&[query, reason])
            .inc();
    }

    /// This replica took, lost or gave up a lease (few names: the jobs, the outbox, the shards).
    pub fn lease_changed(&self, lease: &str, change: &str) {
        self.0
            .lease_changes
            .with_label_values(&[lease, change])
            .inc();
    }

    /// Gauges read at scrape time.
    pub fn set_gateway_connected(&self, connected: bool) {
        self.0.gateway_connected.set(i64::from(connected));
    }

    /// Channels held by the delivery worker (the `channel_health` table).
    pub fn set_channels_unreachable(&self, channels: i64) {
        self.0.channels_unreachable.set(channels);
    }

    pub fn set_discord_token_rejected(&self, rejected: bool) {
        self.0.discord_token_rejected.set(i64::from(rejected));
    }

    pub fn set_outbox(&self, pending: i64, oldest_age: Duration) {
        self.0.outbox_pending.set(pending);
        self.0.outbox_oldest_age.set(oldest_age.as_secs_f64());
    }

    /// Dead letters (read from the outbox at scrape time).
    pub fn set_dead_letters(&self, count: i64) {
        self.0.outbox_dead_letters.set(count);
    }

    pub fn set_database_size(&self, bytes: i64) {
        self.0.database_size.set(bytes);
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.0.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}
