//! Prometheus metrics (P17): `GET /metrics`, for system administrators, in the Prometheus text
//! format (version 0.0.4) of the `prometheus-client` crate.
//!
//! Counted here as they happen: requests and their latency per route *template* (the
//! middleware [`track`]), failed logins and lockouts (from audit events, [`Metrics::observe_audit`]).
//! Read from the services at scrape time ([`Gauges`]): the journal's batch sizes, fsync latency
//! and size, each mirror's health, live sessions, and the space of each location.
//!
//! Must never put a value from a request into a label (a path's ids, an arbitrary method):
//! labels come from the router's templates and from fixed lists only, so the number of series
//! stays bounded and the output reveals no ids.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use identity::Identity;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::auth::SystemAdmin;
use crate::{ApiError, AppState};

/// The media type of the answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `route` label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the request-latency buckets, in seconds.
const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Audit actions counted as failed logins (a password, a second factor or a re-authentication).
const FAILED_LOGINS: [&str; 3] = ["login.failed", "mfa.failed", "reauth.failed"];
/// The audit action of an account locked after too many failures.
const LOCKOUT: &str = "login.locked";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The registry and the metrics counted as things happen; shared by every request.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    failed_logins: Counter,
    lockouts: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a server whose identity service (and through it the engine) the scrape
    /// reads, with its backups when it takes any.
    pub fn new(identity: Identity, backups: Option<Arc<backup::service::Service>>) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BOUNDS));
        let failed_logins = Counter::default();
        let lockouts = Counter::default();
        registry.register(
            "strongroom_http_requests",
            "HTTP requests answered, by route template, method and status class",
            requests.clone(),
        );
        registry.register(
            "strongroom_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response head), by route template and method",
            latency.clone(),
        );
        registry.register(
            "strongroom_failed_logins",
            "Failed logins, second factors and re-authentications (audit actions login.failed, mfa.failed, reauth.failed)",
            failed_logins.clone(),
        );
        registry.register(
            "strongroom_lockouts",
            "Accounts locked after too many failures (audit action login.locked)",
            lockouts.clone(),
        );
        registry.register_collector(Box::new(Gauges { identity, backups }));
        Metrics {
            registry,
            requests,
            latency,
            failed_logins,
            lockouts,
        }
    }

    /// Counts a security event: failed logins and lockouts.
    pub fn observe_audit(&self, event: &audit::AuditEvent) {
        let action = event.action.as_str();
        if FAILED_LOGINS.contains(&action) {
            self.failed_logins.inc();
        } else if action == LOCKOUT {
            self.lockouts.inc();
        }
    }

    /// Counts an answered request under its route template.
    fn observe_request(&self, route: &str, method: &Method, status: StatusCode, took: Duration) {
        let method = method_label(method);
        let requests = RequestLabels {
            route: route.to_owned(),
            method,
            status_class: status_class(status),
        };
        self.requests.get_or_create(&requests).inc();
        let latency = RouteLabels {
            route: route.to_owned(),
            method,
        };
        self.latency
            .get_or_create(&latency)
            .observe(took.as_secs_f64());
    }

    /// Every metric in the Prometheus text format. Blocking: the gauges query the state and
    /// the file systems.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A fixed label for the method: the standard ones, else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Middleware: counts every request and its latency under the route template it matched
/// (`/api/v1/tenants/{tenant}/users/{user}`), or [`UNMATCHED`].
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .observe_request(&route, &method, response.status(), started.elapsed());
    response
}

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/metrics", get(get_metrics))
}

/// The metrics, in the Prometheus text format (version 0.0.4).
///
/// **Permissions:** system administrator (`ManageTenants` on the system): the figures are
/// the whole installation's.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Every metric, in the Prometheus text format (version 0.0.4).",
        content_type = "text/plain", body = String)),
    security(("bearer" = []), ("session" = [])))]
async fn get_metrics(
    SystemAdmin(_admin): SystemAdmin,
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let metrics = Arc::clone(&state.metrics);
    let text = tokio::task::spawn_blocking(move || metrics.encode())
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// The figures read at scrape time from the identity service and the engine.
struct Gauges {
    identity: Identity,
    backups: Option<Arc<backup::service::Service>>,
}

impl std::fmt::Debug for Gauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauges").finish_non_exhaustive()
    }
}

/// A journal histogram as the encoder takes it: `(upper bound, count)` per bucket, the last
/// bound infinite; bounds and sum divided by `per_unit` (1e6 for microseconds to seconds).
fn buckets(h: &engine::Histogram, per_unit: f64) -> (f64, u64, Vec<(f64, u64)>) {
    let bounds = h.bounds.iter().map(|b| *b as f64 / per_unit);
    let bounds = bounds.chain(std::iter::once(f64::INFINITY));
    let buckets = bounds.zip(h.buckets.iter().copied()).collect();
    (h.sum as f64 / per_unit, h.count, buckets)
}

/// A gauge, or nothing (with a warning) when it could not be read.
fn read<T, E: std::fmt::Display>(what: &str, value: Result<T, E>) -> Option<T> {
    value
        .map_err(|e| tracing::warn!(metric = what, error = %e, "a metric could not be read"))
        .ok()
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let engine = self.identity.engine();
        let stats = engine.journal().stats();
        let (sum, count, b) = buckets(&stats.batch_sizes, 1.0);
        encoder
            .encode_descriptor(
                "strongroom_journal_batch_size",
                "Entries per group-commit batch of the journal.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
        let mirrors = [("data", &stats.mirror_a), ("mirror", &stats.mirror_b)];
        let mut fsync = encoder.encode_descriptor(
            "strongroom_journal_fsync_duration_seconds",
            "Time of each fdatasync or fsync of the journal, by mirror (its location).",
            None,
            MetricType::Histogram,
        )?;
        for (name, mirror) in mirrors {
            let (sum, count, b) = buckets(&mirror.fsync_latency, 1e6);
            fsync
                .encode_family(&[("mirror", name)])?
                .encode_histogram::<NoLabelSet>(sum, count, &b, None)?;
        }
        let mut up = encoder.encode_descriptor(
            "strongroom_mirror_up",
            "1 while the journal mirror in this location takes writes, 0 once a write to it failed.",
            None,
            MetricType::Gauge,
        )?;
        for (name, mirror) in mirrors {
            up.encode_family(&[("mirror", name)])?
                .encode_gauge(&i64::from(!mirror.has_failed))?;
        }
        if let Some(bytes) = read("strongroom_journal_bytes", engine.journal_bytes()) {
            encoder
                .encode_descriptor(
                    "strongroom_journal_bytes",
                    "Bytes of the journal's segment files (in each location).",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&bytes)?;
        }
        if let Some(n) = read(
            "strongroom_sessions_active",
            self.identity.count_active_sessions(),
        ) {
            encoder
                .encode_descriptor(
                    "strongroom_sessions_active",
                    "Sessions neither revoked nor expired, idle timeout included.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&n)?;
        }
        self.encode_disks(&mut encoder)?;
        self.encode_backups(&mut encoder)
    }
}

/// A drill gauge: name, help, and the figure (ms) it reports.
type DrillGauge = (
    &'static str,
    &'static str,
    fn(&backup::service::Status) -> Option<u64>,
);

/// A disk gauge: name, help, and the figure it reports.
type DiskGauge = (&'static str, &'static str, fn(&engine::DiskSpace) -> u64);

impl Gauges {
    /// Seconds since each destination's last successful backup run (absent before the first).
    fn encode_backups(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(backups) = &self.backups else {
            return Ok(());
        };
        let now = self.identity.engine().now().millis();
        let mut age = encoder.encode_descriptor(
            "strongroom_backup_age_seconds",
            "Seconds since the last successful backup or shipping run, by destination.",
            None,
            MetricType::Gauge,
        )?;
        let statuses = backups.status();
        for status in &statuses {
            if let Some(at) = status.last_success_at {
                age.encode_family(&[("destination", status.destination.as_str())])?
                    .encode_gauge(&((now - at).max(0) as f64 / 1000.0))?;
            }
        }
        let drills: [DrillGauge; 2] = [
            (
                "strongroom_drill_rto_seconds",
                "Recovery time measured by the last restore drill, by destination.",
                |s| s.drill_rto_ms,
            ),
            (
                "strongroom_drill_rpo_seconds",
                "Recovery point measured by the last restore drill (age of the oldest entry the backup lacked), by destination.",
                |s| s.drill_rpo_ms,
            ),
        ];
        for (name, help, value) in drills {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for status in &statuses {
                if let Some(ms) = value(status) {
                    family
                        .encode_family(&[("destination", status.destination.as_str())])?
                        .encode_gauge(&(ms as f64 / 1000.0))?;
                }
            }
        }
        Ok(())
    }

    fn encode_disks(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let spaces: Vec<_> = self
            .identity
            .engine()
            .disk_space()
            .into_iter()
            .filter_map(|(name, space)| Some((name, read(name, space)?)))
            .collect();
        let gauges: [DiskGauge; 2] = [
            (
                "strongroom_disk_free_bytes",
                "Bytes still writable on the file system of each location.",
                |s| s.free_bytes,
            ),
            (
                "strongroom_disk_total_bytes",
                "Size of the file system of each location.",
                |s| s.total_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            let mut gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (location, space) in &spaces {
                gauge
                    .encode_family(&[("location", *location)])?
                    .encode_gauge(&value(space))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(status_class(StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn journal_histograms_are_scaled_and_end_in_an_infinite_bucket() {
        let h = engine::Histogram {
            bounds: &[100, 1_000],
            buckets: vec![1, 2, 3],
            count: 6,
            sum: 5_000,
        };
        let (sum, count, b) = buckets(&h, 1e6);
        assert_eq!(count, 6);
        assert!((sum - 0.005).abs() < 1e-12, "{sum}");
        assert_eq!(b.len(), 3);
        assert_eq!(b[0], (0.0001, 1), "{b:?}");
        assert_eq!(b[2], (f64::INFINITY, 3));
    }
}
