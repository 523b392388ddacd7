//! The dashboard's pages as maud templates: checked at compile time, every value escaped. One
//! inline stylesheet, no script, no external asset; readable on a phone (one column under 40rem).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};

use super::svg;
use super::{MainData, Viewer, PERIODS};
use crate::domain::bands::{Bands, Edges};
use crate::domain::dashboard::{DeployLine, IncidentLine, IncidentPage, LinkedAlert, ReleasePage};
use crate::domain::deploy::DeployStatus;
use crate::domain::feedback::{Sentiment, Tally};
use crate::domain::incident_review::{age_days, Owner};
use crate::domain::summary::{duration_text, Key};
use crate::domain::visibility::Reader;
use crate::store::{FollowupView, IncidentDetail};

const STYLE: &str = "
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#5b6475;--card:#fff;--line:#dde1e8;
--elite:#1a7f37;--high:#2f6fde;--medium:#b7791f;--low:#c53030}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{background:#23272f;color:#fff;padding:.8rem 1rem}
header a{color:#cfd8ff}
header h1{margin:0;font-size:1.2rem}
header p{margin:.2rem 0 0;color:#c5cad3;font-size:.9rem}
main{max-width:72rem;margin:0 auto;padding:1rem}
section{margin:0 0 1.5rem}
h2{font-size:1.1rem;margin:0 0 .6rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:.8rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.8rem}
.card h3{margin:0;font-size:.95rem;color:var(--muted);font-weight:600}
.value{font-size:1.6rem;font-weight:700;margin:.2rem 0}
.small{font-size:.85rem;color:var(--muted);margin:.2rem 0}
.band{display:inline-block;border-radius:1rem;padding:0 .6rem;font-size:.8rem;font-weight:700;color:#fff;background:var(--muted)}
.band.elite{background:var(--elite)}.band.high{background:var(--high)}
.band.medium{background:var(--medium)}.band.low{background:var(--low)}
.status{font-weight:700}.status.succeeded{color:var(--elite)}.status.failed,.status.rolled_back{color:var(--low)}
.status.started{color:var(--high)}
.table{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:.5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;white-space:nowrap}
tr:last-child td{border-bottom:0}
nav a{margin-right:.8rem}
nav a.current{font-weight:700;text-decoration:none;color:var(--fg)}
svg{width:100%;height:auto;max-height:14rem;display:block}
.empty{color:var(--muted);font-style:italic}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.8rem;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
ol.timeline{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.8rem 1rem .8rem 2.2rem;margin:0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
@media (max-width:40rem){main{padding:.6rem}.value{font-size:1.3rem}th,td{padding:.35rem .4rem}}
";

fn page(title: &str, viewer: Option<&Viewer>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · loopbot" }
                style { (STYLE) }
            }
            body {
                header {
                    h1 {
                        @match viewer {
                            Some(viewer) => a href=(viewer.href("/dashboard", "")) { "loopbot" },
                            None => "loopbot",
                        }
                        " · " (title)
                    }
                    @if let Some(viewer) = viewer {
                        p id="reader" {
                            @match viewer.reader {
                                Reader::Operator => "Every server (operator view, API token)",
                                Reader::Server(guild) => { "Server " (guild.0) " — what this server's channels were sent or follow" },
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// A plain page for a refusal or an error: the status and one sentence.
pub fn plain(status: StatusCode, text: &str) -> String {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    page(&title, None, html! { p id="reason" { (text) } })
}

fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn status_badge(status: DeployStatus) -> Markup {
    let (class, text) = match status {
        DeployStatus::Started => ("started", "running"),
        DeployStatus::Succeeded => ("succeeded", "succeeded"),
        DeployStatus::Failed => ("failed", "failed"),
        DeployStatus::RolledBack => ("rolled_back", "rolled back"),
    };
    html! { span class={"status " (class)} { (text) } }
}

fn tally(t: &Tally) -> Markup {
    html! {
        span class="tally" data-good=(t.good) data-meh=(t.meh) data-bad=(t.bad) data-comments=(t.comments) {
            (t.good) " good · " (t.meh) " meh · " (t.bad) " bad · " (t.comments) " comment(s)"
        }
    }
}

fn alerts(viewer: &Viewer, list: &[LinkedAlert]) -> Markup {
    html! {
        @if list.is_empty() { span class="empty" { "none" } }
        @for (i, alert) in list.iter().enumerate() {
            @if i > 0 { ", " }
            span class="alert" {
                (alert.name) " (" (alert.severity)
                @if alert.firing { ", firing" }
                @match alert.verdict.as_deref() {
                    Some("confirmed") => ", confirmed cause",
                    Some("rejected") => ", not this deploy",
                    _ => "",
                }
                ")"
                @if let Some(id) = alert.incident_id {
                    " " a href=(viewer.href(&format!("/dashboard/incidents/{id}"), "")) { "incident #" (id) }
                }
            }
        }
    }
}

/// One key: value, band, previous value and trend; `edges` says what each band needs.
fn key_card(
    id: &str,
    name: &str,
    key: &Key,
    format: &dyn Fn(f64) -> String,
    edges: String,
    extra: Markup,
) -> Markup {
    html! {
        div class="card" id=(id) {
            h3 { (name) }
            p class="value" data-value=[key.value] {
                @match key.value { Some(v) => (format(v)), None => "n/a" }
            }
            @match key.band {
                Some(band) => span class={"band " (band.as_str())} { (band.as_str()) },
                None => span class="band" { "no data" },
            }
            p class="small" {
                "previous " @match key.previous { Some(v) => (format(v)), None => "n/a" }
                " " (key.trend.marker())
            }
            (extra)
            p class="small" { (edges) }
        }
    }
}

fn per_day(v: f64) -> String {
    format!("{v:.2}/day")
}

fn percent(v: f64) -> String {
    format!("{v:.1}%")
}

fn edges_text(e: &Edges, fmt: &dyn Fn(f64) -> String, at_least: bool) -> String {
    let op = if at_least { "≥" } else { "<" };
    format!(
        "elite {op} {} · high {op} {} · medium {op} {}",
        fmt(e.elite),
        fmt(e.high),
        fmt(e.medium)
    )
}

pub fn main(viewer: &Viewer, period_name: &str, data: &MainData, tz: Tz, bands: &Bands) -> String {
    let s = &data.summary;
    let k = &s.keys;
    let body = html! {
        nav id="periods" {
            @for (name, label) in PERIODS {
                @if name == period_name {
                    a class="current" href=(viewer.href("/dashboard", &format!("period={name}"))) { (label) }
                } @else {
                    a href=(viewer.href("/dashboard", &format!("period={name}"))) { (label) }
                }
            }
        }
        p class="small" id="period" { (s.period.from) " – " (s.period.to) " (" (s.period.timezone) ")" }
        section {
            h2 { "Four keys" }
            div class="cards" {
                (key_card("deployment_frequency", "Deployment frequency", &k.deployment_frequency, &per_day,
                    edges_text(&bands.deployment_frequency, &per_day, true),
                    html! { p class="small" { (k.production_deploys) " production deploys reached production" } }))
                (key_card("lead_time", "Lead time for changes (median)", &k.lead_time.median, &duration_text,
                    edges_text(&bands.lead_time, &duration_text, false),
                    html! { p class="small" {
                        "p90 " @match k.lead_time.p90 { Some(v) => (duration_text(v)), None => "n/a" }
                        "; " (k.lead_time.commits_measured) " commits in "
                        (k.lead_time.deploys_measured) " deploys measured, "
                        (k.lead_time.deploys_lacking_commit_time) " lacking a commit time"
                    } }))
                (key_card("change_failure_rate", "Change failure rate", &k.change_failure_rate, &percent,
                    edges_text(&bands.change_failure_rate, &percent, false).replace('<', "≤"),
                    html! { p class="small" {
                        (k.change_failures) " of " (k.production_deploys) " production deploys; probable "
                        @match k.probable_change_failure_rate.value { Some(v) => (percent(v)), None => "n/a" }
                        "; " (k.deploy_failures) " deploy failures beside it"
                    } }))
                (key_card("failed_deployment_recovery_time", "Failed deployment recovery time (median)",
                    &k.failed_deployment_recovery_time, &duration_text,
                    edges_text(&bands.time_to_restore, &duration_text, false),
                    html! { p class="small" { (k.recoveries) " recovered" } }))
                (key_card("time_to_restore", "Incident time to restore (median)", &k.time_to_restore, &duration_text,
                    edges_text(&bands.time_to_restore, &duration_text, false),
                    html! {}))
            }
        }
        section id="daily" {
            h2 { "Deploys per day" }
            p class="small" {
                (s.deploys.total) " deploys: " (s.deploys.succeeded) " succeeded, " (s.deploys.failed) " failed, "
                (s.deploys.rolled_back) " rolled back"
                @if s.deploys.started > 0 { ", " (s.deploys.started) " running" }
                " (previous period " (s.previous_deploys.total) ")"
            }
            div class="card" { (svg::daily(&s.daily)) }
        }
        section id="deploys" {
            h2 { "Recent deploys" }
            (deploy_table(viewer, &data.deploys, tz))
        }
        section id="incidents" {
            h2 { "Open incidents" }
            (incident_table(viewer, &data.incidents, tz))
        }
        section id="followups" {
            h2 { "Open follow-ups" }
            (followup_table(viewer, &data.followups, data.now))
        }
        section id="noisiest" {
            h2 { "Noisiest alerts" }
            @match &s.alerts {
                Some(a) if !a.noisiest.is_empty() => div class="table" { table {
                    thead { tr { th { "Alert" } th { "Fired" } th { "Noise votes" } th { "Useful votes" } } }
                    tbody { @for e in &a.noisiest { tr {
                        td { (e.name) } td { (e.fired) } td { (e.noise_votes) } td { (e.useful_votes) }
                    } } }
                } },
                _ => p class="empty" { "No alerts in this period." },
            }
            @if let Some(a) = &s.alerts {
                p class="small" {
                    (a.count) " alerts (previous " (a.previous_count) "); " (a.still_firing) " still firing; "
                    (a.incidents_opened) " incident(s) opened; time to acknowledge (median) "
                    @match a.time_to_acknowledge_median { Some(v) => (duration_text(v)), None => "n/a" }
                }
            }
        }
        @if let Some(c) = &s.checkins {
            section id="checkins" {
                h2 { "Check-ins" }
                p class="small" {
                    (c.asked) " asked, " (c.answered) " answered; response rate "
                    @match c.response_rate { Some(v) => (format!("{v:.0}%")), None => "n/a" }
                    "; sentiment " (c.positive) " good · " (c.neutral) " meh · " (c.negative) " bad"
                }
            }
        }
        @for section in &s.unavailable {
            p class="small" { (section) ": not available in this database yet." }
        }
    };
    page("Dashboard", Some(viewer), body)
}

fn deploy_table(viewer: &Viewer, deploys: &[DeployLine], tz: Tz) -> Markup {
    html! {
        @if deploys.is_empty() {
            p class="empty" { "No deploys yet." }
        } @else {
            div class="table" { table {
                thead { tr { th { "Release" } th { "Environment" } th { "Status" } th { "When" } th { "Feedback" } th { "Linked alerts" } th { "Release health" } } }
                tbody {
                    @for d in deploys {
                        tr data-deploy=(d.id) {
                            td { a href=(viewer.href(&format!("/dashboard/releases/{}", d.id), "")) { (d.service) " " (d.version) } }
                            td { (d.environment) }
                            td { (status_badge(d.status)) }
                            td { (when(d.finished_at.unwrap_or(d.started_at), tz)) }
                            td { (tally(&d.tally)) }
                            td { (alerts(viewer, &d.alerts)) }
                            td class="health" { @match &d.health { Some(h) => (h.describe()), None => "—" } }
                        }
                    }
                }
            } }
        }
    }
}

fn incident_table(viewer: &Viewer, incidents: &[IncidentLine], tz: Tz) -> Markup {
    html! {
        @if incidents.is_empty() {
            p class="empty" { "No open incidents." }
        } @else {
            div class="table" { table {
                thead { tr { th { "Incident" } th { "Severity" } th { "Service" } th { "Opened" } th { "Acknowledged" } } }
                tbody {
                    @for i in incidents {
                        tr data-incident=(i.id) {
                            td { a href=(viewer.href(&format!("/dashboard/incidents/{}", i.id), "")) { "#" (i.id) " " (i.title) } }
                            td { (i.severity) }
                            td { (i.service.as_deref().unwrap_or("—")) }
                            td { (when(i.opened_at, tz)) }
                            td { @match i.acknowledged_at { Some(at) => (when(at, tz)), None => "not yet" } }
                        }
                    }
                }
            } }
        }
    }
}

fn sentiment_text(s: Option<Sentiment>) -> &'static str {
    match s {
        Some(Sentiment::Good) => "good",
        Some(Sentiment::Meh) => "meh",
        Some(Sentiment::Bad) => "bad",
        None => "comment",
    }
}

pub fn release(viewer: &Viewer, p: &ReleasePage, tz: Tz) -> String {
    let d = &p.deploy;
    let title = format!("{} {} in {}", d.service, d.version, d.environment);
    let body = html! {
        section {
            dl id="facts" {
                dt { "Status" } dd { (status_badge(d.status)) }
                dt { "Started" } dd { (when(d.started_at, tz)) }
                dt { "Finished" } dd { @match d.finished_at { Some(at) => (when(at, tz)), None => "not yet" } }
                @if let Some(finished) = d.finished_at {
                    dt { "Took" } dd { (duration_text((finished - d.started_at).num_milliseconds() as f64 / 1000.0)) }
                }
                dt { "Deployer" } dd { (d.deployer.as_deref().unwrap_or("—")) }
                dt { "Commit" } dd { (d.commit_sha.as_deref().unwrap_or("—")) }
                @if let Some(url) = d.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                    dt { "Link" } dd { a href=(url) rel="noreferrer noopener" { (url) } }
                }
                dt { "Feedback" } dd { (tally(&p.tally)) }
                dt { "Linked alerts" } dd { (alerts(viewer, &p.alerts)) }
            }
        }
        @if let Some(changelog) = &d.changelog {
            section { h2 { "Changelog" } div class="card" { pre { (changelog) } } }
        }
        section id="checkins" {
            h2 { "Check-ins" }
            @if p.checkins.is_empty() {
                p class="empty" { "No check-ins in this server." }
            } @else {
                div class="table" { table {
                    thead { tr { th { "Asked" } th { "State" } th { "Closed" } } }
                    tbody { @for c in &p.checkins {
                        tr data-checkin=(c.id) {
                            td { (when(c.opened_at.unwrap_or(c.due_at), tz)) @if c.late { " (late)" } }
                            td { (c.state.as_str()) @if let Some(reason) = &c.cancel_reason { ": " (reason) } }
                            td { @match c.closed_at { Some(at) => (when(at, tz)), None => "—" } }
                        }
                    } }
                } }
            }
        }
        @if !p.health.is_empty() {
            section id="health" {
                h2 { "Release health" }
                div class="table" { table {
                    thead { tr { th { "Check-in" } th { "Query" } th { "Before" } th { "After" } th { "" } } }
                    tbody { @for (checkin, r) in &p.health {
                        tr data-checkin=(checkin) data-query=(r.name) {
                            td { "#" (checkin) " " (when(r.after_at, tz)) }
                            td { (r.label()) }
                            td { (r.shown(r.before)) }
                            td { (r.shown(r.after)) }
                            td { @match r.verdict() {
                                Some(v) => (v.marker()),
                                None => (r.after.err().or(r.before.err()).map_or("unavailable", |u| u.describe())),
                            } }
                        }
                    } }
                } }
            }
        }
        section id="answers" {
            h2 { "Answers and comments" }
            @if p.feedback.is_empty() {
                p class="empty" { "No answers yet." }
            } @else {
                div class="table" { table {
                    thead { tr { th { "" } th { "Who" } th { "Comment" } th { "How" } th { "When" } } }
                    tbody { @for f in &p.feedback {
                        tr {
                            td { (sentiment_text(f.sentiment)) }
                            td { (f.user_name) }
                            td { (f.body.as_deref().unwrap_or("")) }
                            td { (f.source.as_str()) }
                            td { (when(f.given_at, tz)) }
                        }
                    } }
                } }
            }
        }
    };
    page(&title, Some(viewer), body)
}

/// How a follow-up's owner reads on a page.
fn owner(owner: &Owner) -> String {
    match owner {
        Owner::User(id) => format!("Discord user {id}"),
        Owner::Text(text) => text.clone(),
    }
}

fn followup_table(viewer: &Viewer, followups: &[FollowupView], now: DateTime<Utc>) -> Markup {
    html! {
        @if followups.is_empty() {
            p class="empty" { "No open follow-ups." }
        } @else {
            div class="table" { table {
                thead { tr { th { "Follow-up" } th { "Owner" } th { "Age" } th { "Due" } th { "Incident" } } }
                tbody {
                    @for f in followups {
                        tr data-followup=(f.id) {
                            td { "#" (f.id) " " (f.what) }
                            td { (owner(&f.owner)) }
                            td { (age_days(f.opened_at, now)) " d" }
                            td { (f.due.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                            td { a href=(viewer.href(&format!("/dashboard/incidents/{}", f.incident_id), "")) { "#" (f.incident_id) " " (f.incident_title) } }
                        }
                    }
                }
            } }
        }
    }
}

/// An incident's own timeline (thread entries), retros and follow-ups.
fn review(d: &IncidentDetail, tz: Tz) -> Markup {
    html! {
        section id="incident-timeline" {
            h2 { "Incident timeline" }
            @if d.timeline.is_empty() {
                p class="empty" { "Nothing recorded." }
            } @else {
                ol class="timeline" { @for e in &d.timeline { li data-kind=(e.kind.as_str()) { (when(e.at, tz)) ": " (e.text()) } } }
            }
        }
        section id="retro" {
            h2 { "Retro" }
            @if d.retros.is_empty() {
                p class="empty" { "No retro written yet." }
            }
            @for r in &d.retros {
                article class="retro" {
                    h3 { (r.author_name) ", " (when(r.at, tz)) }
                    dl {
                        dt { "What happened" } dd { (r.what_happened) }
                        dt { "What helped" } dd { (r.what_helped) }
                        dt { "What would have caught it sooner" } dd { (r.sooner) }
                    }
                }
            }
        }
        section id="incident-followups" {
            h2 { "Follow-ups" }
            @if d.followups.is_empty() {
                p class="empty" { "No follow-ups." }
            } @else {
                div class="table" { table {
                    thead { tr { th { "Follow-up" } th { "Owner" } th { "Due" } th { "State" } } }
                    tbody {
                        @for f in &d.followups {
                            tr data-followup=(f.id) {
                                td { "#" (f.id) " " (f.what) }
                                td { (owner(&f.owner)) }
                                td { (f.due.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                                td { (f.state.as_str()) @if let Some(by) = &f.closed_by_name { " (by " (by) ")" } }
                            }
                        }
                    }
                } }
            }
        }
    }
}

pub fn incident(
    viewer: &Viewer,
    p: &IncidentPage,
    detail: Option<&IncidentDetail>,
    tz: Tz,
) -> String {
    let i = &p.incident;
    let title = format!("Incident #{} {}", i.id, i.title);
    let body = html! {
        section {
            dl id="facts" {
                dt { "Severity" } dd { (i.severity) }
                dt { "Service" } dd { (i.service.as_deref().unwrap_or("—")) " / " (i.environment.as_deref().unwrap_or("—")) }
                dt { "Opened" } dd { (when(i.opened_at, tz)) }
                dt { "Acknowledged" } dd { @match i.acknowledged_at {
                    Some(at) => { (when(at, tz)) " (after " (duration_text((at - i.opened_at).num_milliseconds() as f64 / 1000.0)) ")" },
                    None => "not yet",
                } }
                dt { "Resolved" } dd { @match i.resolved_at {
                    Some(at) => { (when(at, tz)) " (restored in " (duration_text((at - i.opened_at).num_milliseconds() as f64 / 1000.0)) ")" },
                    None => "still open",
                } }
                dt { "Linked deploy" } dd { @match &p.deploy {
                    Some((id, service, version)) => a href=(viewer.href(&format!("/dashboard/releases/{id}"), "")) { (service) " " (version) },
                    None => "none",
                } }
            }
        }
        section id="timeline" {
            h2 { "Timeline" }
            @if p.timeline.is_empty() {
                p class="empty" { "Nothing recorded." }
            } @else {
                ol class="timeline" { @for e in &p.timeline { li { (when(e.at, tz)) ": " (e.describe()) } } }
            }
        }
        @if let Some(d) = detail { (review(d, tz)) }
    };
    page(&title, Some(viewer), body)
}
