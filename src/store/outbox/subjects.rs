//! What a message shows, loaded at delivery time from the subject's own tables.

use sqlx::Row;

use super::SubjectKind;
use crate::domain::checkin::CheckinView;
use crate::domain::deploy::{Deploy, DeployStatus};
use crate::domain::incident_review::TimelineEntry;
use crate::store::alerts::{load_alert_group, load_linked_alerts, AlertGroupView, LinkedAlert};
use crate::store::checkins::checkin_view;
use crate::store::deploys::{deploy_from_row, DEPLOY_COLUMNS};
use crate::store::incident_views::{
    incident_card, incident_event_entry, thread_start, IncidentCard, ThreadStart,
};
use crate::store::rollbacks::rolled_back_by;
use crate::store::Result;

/// What a delivery shows, loaded at delivery time so it is always the latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverySubject {
    Deploy(Deploy),
    /// A deploy that alerts were linked to (see store/alerts.rs): its announcement names them.
    DeployWithAlerts(Deploy, Vec<LinkedAlert>),
    /// A deploy a responder marked rolled back from its check-in: its announcement names them
    /// (and the alerts linked to it, if any).
    DeployRolledBack {
        deploy: Deploy,
        by: String,
        linked: Vec<LinkedAlert>,
    },
    AlertGroup(AlertGroupView),
    /// A post-release check-in with its deploy and tally.
    Checkin(CheckinView),
    /// "This check-in was cancelled", posted in the thread of an earlier check-in of the deploy.
    CheckinCancelled(CheckinView),
    /// Many subjects of a flooded channel shown as one message (see `digests`).
    Digest(Vec<DeliverySubject>),
    /// A weekly summary: its computed figures, as JSON (`domain::summary::Summary`).
    Summary(String),
    /// A declared incident's own message.
    Incident(IncidentCard),
    /// Start the incident's thread (on its message in the delivery's channel).
    IncidentThread(ThreadStart),
    /// A timeline entry, posted in the incident's thread.
    IncidentEvent(TimelineEntry),
    /// The retro prompt in the incident's thread.
    IncidentPrompt(IncidentCard),
    /// The subject row is gone (or of a kind this version does not know): nothing to show.
    Missing {
        kind: String,
        id: i64,
    },
}

/// Loads what a message shows, by the `message.subject_kind` it was queued with; `None` when the
/// row is gone or the kind unknown. A new kind of message adds a
/// [`SubjectKind`] variant and an arm here.
pub(super) async fn load_subject(
    conn: &mut sqlx::AnyConnection,
    kind: &str,
    id: i64,
) -> Result<Option<DeliverySubject>> {
    let Ok(kind) = kind.parse::<SubjectKind>() else {
        return Ok(None);
    };
    let subject = match kind {
        SubjectKind::Deploy => sqlx::query(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy where id = ?"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| deploy_from_row(&row).map(DeliverySubject::Deploy))
        .transpose()?,
        SubjectKind::AlertGroup => load_alert_group(&mut *conn, id)
            .await?
            .map(DeliverySubject::AlertGroup),
        SubjectKind::Checkin => checkin_view(conn, id).await?.map(DeliverySubject::Checkin),
        SubjectKind::CheckinCancelled => checkin_view(conn, id)
            .await?
            .map(DeliverySubject::CheckinCancelled),
        SubjectKind::Summary => sqlx::query("select body from summary where id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| DeliverySubject::Summary(row.get(0))),
        SubjectKind::Incident => incident_card(conn, id)
            .await?
            .map(DeliverySubject::Incident),
        SubjectKind::IncidentThread => thread_start(conn, id)
            .await?
            .map(DeliverySubject::IncidentThread),
        SubjectKind::IncidentEvent => incident_event_entry(conn, id)
            .await?
            .map(DeliverySubject::IncidentEvent),
        SubjectKind::IncidentPrompt => incident_card(conn, id)
            .await?
            .map(DeliverySubject::IncidentPrompt),
    };
    // A deploy that alerts were linked to names them in its announcement.
    Ok(match subject {
        Some(DeliverySubject::Deploy(deploy)) => {
            let linked = load_linked_alerts(&mut *conn, deploy.id).await?;
            let by = match deploy.status {
                DeployStatus::RolledBack => rolled_back_by(&mut *conn, deploy.id).await?,
                _ => None,
            };
            Some(if let Some(by) = by {
                DeliverySubject::DeployRolledBack { deploy, by, linked }
            } else if linked.is_empty() {
                DeliverySubject::Deploy(deploy)
            } else {
                DeliverySubject::DeployWithAlerts(deploy, linked)
            })
        }
        other => other,
    })
}
