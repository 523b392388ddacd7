//! The delivery worker: the only code that posts to Discord channels. One unit of work
//! ([`DeliveryWorker::deliver_one`]), run as a [`Job`] by the jobs loop, and drained at shutdown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use tracing::Instrument as _;

use super::message::{edit_body, post_body};
use super::render::render;
use super::rest::{DiscordRest, SendError};
use crate::config::DeliverySettings;
use crate::domain::refusal::{self, Decision, Refusal};
use crate::jobs::{until, Job, Next, Wake};
use crate::metrics::Metrics;
use crate::services::TokenStatus;
use crate::store::{Delivery, DeliverySubject, Store, StoreError, Subject};

/// What one call of [`DeliveryWorker::deliver_one`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    Delivered {
        message_id: u64,
    },
    /// Discord could not take it now; it is due again later.
    Retrying {
        error: SendError,
    },
    /// Discord refused it for good, or there was nothing to show; it will not be retried.
    Failed {
        error: String,
    },
    /// The channel is at Discord's rate limit; its queue waits, other channels go on.
    Deferred {
        wait: Duration,
    },
    /// The message was deleted: the next delivery posts the current state anew.
    Reposting,
    /// Nothing to send after all (an incident's thread with no message to start on yet).
    Skipped,
    /// The bot cannot post in the channel: its queue waits `retry_in`, other channels go on.
    Held {
        retry_in: Duration,
    },
    /// Discord rejects the token: nothing is sent anywhere for `wait`.
    Paused {
        wait: Duration,
    },
}

#[derive(Clone)]
pub struct DeliveryWorker {
    store: Store,
    rest: DiscordRest,
    settings: DeliverySettings,
    wake: Wake,
    metrics: Option<Metrics>,
    token: TokenStatus,
    /// While the token is rejected: when to try it again (shared by the job and the drain).
    token_retry_at: Arc<Mutex<Option<Instant>>>,
}

impl DeliveryWorker {
    pub fn new(store: Store, rest: DiscordRest, settings: DeliverySettings, wake: Wake) -> Self {
        Self {
            store,
            rest,
            settings,
            wake,
            metrics: None,
            token: TokenStatus::default(),
            token_retry_at: Arc::default(),
        }
    }

    /// Shares whether Discord accepts the token with `/readyz` and `/metrics`.
    pub fn with_token_status(mut self, token: TokenStatus) -> Self {
        self.token = token;
        self
    }

    /// Records delivery latency (accepted → confirmed by Discord) in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Delivers the next due outbox row, if any, as of `now`.
    pub async fn deliver_one(&self, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        if let Some(wait) = self.token_rejected().await {
            return Ok(Outcome::Paused { wait });
        }
        let Some(mut delivery) = self.store.next_delivery(now).await? else {
            return Ok(Outcome::Idle);
        };
        // An alert's first post in a flooded channel goes out as a digest, with those behind it.
        let first_alert_post = matches!(delivery.subject, DeliverySubject::AlertGroup(_))
            && delivery.discord_message_id.is_none()
            && delivery.attempts == 0;
        if first_alert_post {
            let formed = self
                .store
                .coalesce_floods(
                    delivery.channel,
                    self.settings.digest_after,
                    self.settings.digest_max,
                    now,
                )
                .await?;
            if formed > 0 {
                match self.store.next_delivery(now).await? {
                    Some(digest) => delivery = digest,
                    None => return Ok(Outcome::Idle),
                }
            }
        }
        // Discord said this channel's bucket is empty: wait for it without spending a request.
        if let Some(until) = self.rest.channel_blocked_until(delivery.channel) {
            let wait = until.saturating_duration_since(std::time::Instant::now());
            let wait_ms = wait.as_millis().min(i64::MAX as u128) as i64 + 1;
            self.store
                .delivery_deferred(
                    &delivery,
                    Utc::now() + chrono::Duration::milliseconds(wait_ms),
                )
                .await?;
            return Ok(Outcome::Deferred { wait });
        }
        // Every log line of this delivery carries its channel and subject.
        let span = tracing::info_span!(
            "delivery",
            channel_id = delivery.channel.0,
            message_row = delivery.message_row,
            deploy_id = tracing::field::Empty,
        );
        if let DeliverySubject::Deploy(deploy)
        | DeliverySubject::DeployWithAlerts(deploy, _)
        | DeliverySubject::DeployRolledBack { deploy, .. } = &delivery.subject
        {
            span.record("deploy_id", deploy.id);
        }
        self.deliver(delivery, now).instrument(span).await
    }

    async fn deliver(&self, delivery: Delivery, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        // An incident's thread: started once its message is posted (this row queued behind it in
        // the same channel), then settled like a post; its timeline is queued into the thread.
        if let DeliverySubject::IncidentThread(start) = &delivery.subject {
            let sent =
                super::incidents::start_thread(&self.rest, &self.store, delivery.channel, start)
                    .await;
            return match sent {
                Ok(None) => {
                    self.store.delivery_skipped(&delivery, now).await?;
                    Ok(Outcome::Skipped)
                }
                Ok(Some(thread)) => self.settle(&delivery, Ok(thread), now).await,
                Err(error) => self.settle(&delivery, Err(error), now).await,
            };
        }
        let Some(message) = render(&delivery.subject) else {
            let error = match &delivery.subject {
                DeliverySubject::Missing { kind, id } => {
                    format!("nothing to show: {kind} {id} not found")
                }
                _ => "nothing to show".to_owned(),
            };
            self.store.delivery_failed(&delivery, &error, now).await?;
            return Ok(Outcome::Failed { error });
        };
        let sent = match delivery.discord_message_id {
            Some(existing) => {
                self.rest
                    .edit_message(delivery.channel, existing, &edit_body(&message))
                    .await
            }
            None if !message.files.is_empty() => {
                let nonce = delivery.nonce.clone();
                self.rest
                    .create_message_with_files(
                        delivery.channel,
                        &post_body(&message, nonce),
                        &message.files,
                    )
                    .await
            }
            None => {
                let nonce = delivery.nonce.clone();
                self.rest
                    .create_message(delivery.channel, &post_body(&message, nonce))
                    .await
            }
        };
        // A check-in's first post also gets seed reactions and a thread (see checkins::after_post).
        let sent = match (&delivery.subject, delivery.discord_message_id, sent) {
            (DeliverySubject::Checkin(view), None, Ok(id)) => {
                super::checkins::after_post(&self.rest, &self.store, delivery.channel, view, id)
                    .await
                    .map(|()| id)
            }
            (_, _, sent) => sent,
        };
        let posted = delivery.discord_message_id.is_none() && sent.is_ok();
        let outcome = self.settle(&delivery, sent, now).await?;
        // An incident's message posted anew (after a deletion): its thread may be owed.
        if posted {
            let subject = match &delivery.subject {
                DeliverySubject::AlertGroup(group) if group.incident_id.is_some() => {
                    Some(Subject::AlertGroup(group.id))
                }
                DeliverySubject::Incident(card) => Some(Subject::Incident(card.id)),
                _ => None,
            };
            if let Some(subject) = subject {
                self.store
                    .incident_message_posted(subject, delivery.channel, now)
                    .await?;
            }
        }
        Ok(outcome)
    }

    async fn settle(
        &self,
        delivery: &Delivery,
        sent: Result<u64, SendError>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        match sent {
            Ok(message_id) => {
                let sent_at = Utc::now();
                self.store
                    .delivery_sent(delivery, message_id, sent_at)
                    .await?;
                if let Some(hold) = self.store.channel_reachable(delivery.channel).await? {
                    tracing::info!(
                        channel = delivery.channel.0,
                        since = %hold.since,
                        "channel reachable again: its held messages go out"
                    );
                }
                if let Some(metrics) = &self.metrics {
                    if let Some(queued) = self.store.outbox_queued_at(delivery.outbox_id).await? {
                        let kind = if delivery.discord_message_id.is_some() {
                            "edit"
                        } else {
                            "post"
                        };
                        metrics.delivered(kind, (sent_at - queued).to_std().unwrap_or_default());
                    }
                }
                tracing::info!(
                    channel = delivery.channel.0,
                    message_id,
                    edit = delivery.discord_message_id.is_some(),
                    "delivered"
                );
                Ok(Outcome::Delivered { message_id })
            }
            Err(SendError::Rejected { status, message }) => {
                let error = format!("Discord refused with {status}: {message}");
                self.dead_letter(delivery, error, now).await
            }
            Err(SendError::Refused { refusal, answer }) => {
                self.refused(delivery, &refusal, &answer, now).await
            }
            Err(error) => {
                let wait = match &error {
                    SendError::RateLimited { retry_after } => *retry_after,
                    _ => self.backoff(delivery.attempts),
                };
                tracing::warn!(
                    channel = delivery.channel.0,
                    attempts = delivery.attempts + 1,
                    %error,
                    retry_in_ms = wait.as_millis() as u64,
                    "delivery will be retried"
                );
                // From now, not from when the attempt began: retry_after counts from Discord's answer.
                // Rounded up to whole milliseconds, the precision of the stored due time.
                let wait_ms = wait.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64;
                let due = Utc::now() + chrono::Duration::milliseconds(wait_ms);
                self.store
                    .delivery_retry(delivery, due, &error.to_string())
                    .await?;
                Ok(Outcome::Retrying { error })
            }
        }
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        error: String,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        tracing::error!(channel = delivery.channel.0, %error, "delivery failed for good");
        self.store.delivery_failed(delivery, &error, now).await?;
        Ok(Outcome::Failed { error })
    }

    /// Carries out what `domain::refusal::decide` says about a refusal.
    async fn refused(
        &self,
        delivery: &Delivery,
        refusal: &Refusal,
        answer: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let channel = delivery.channel.0;
        let held = self.store.channel_hold(delivery.channel).await?;
        let editing = delivery.discord_message_id.is_some();
        let policy = &self.settings.refusals;
        match refusal::decide(refusal, editing, held.as_ref(), now, policy) {
            Decision::Repost => {
                tracing::info!(
                    channel,
                    message_row = delivery.message_row,
                    "the message was deleted: posting the current state as a new one"
                );
                self.store.message_gone(delivery).await?;
                Ok(Outcome::Reposting)
            }
            Decision::Hold { hold, changed } => {
                if changed {
                    tracing::warn!(
                        channel,
                        since = %hold.since,
                        reason = %hold.reason,
                        %answer,
                        "cannot post in this channel: holding its messages"
                    );
                }
                self.store
                    .hold_channel(delivery, &hold, answer, Utc::now())
                    .await?;
                Ok(Outcome::Held {
                    retry_in: hold.retry_in,
                })
            }
            Decision::GiveUp { since } => {
                let error = format!(
                    "Discord refused with {answer}; the channel has been unreachable since {since}, \
                     longer than LOOPBOT_UNREACHABLE_GIVE_UP"
                );
                let failed = self
                    .store
                    .give_up_channel(delivery.channel, &error, now)
                    .await?;
                tracing::error!(channel, failed, %error, "gave up on an unreachable channel");
                Ok(Outcome::Failed { error })
            }
            Decision::Pause { retry_in } => {
                self.pause_for_token(retry_in, answer);
                Ok(Outcome::Paused { wait: retry_in })
            }
            Decision::DeadLetter => {
                self.dead_letter(delivery, format!("Discord refused with {answer}"), now)
                    .await
            }
        }
    }

    /// Discord rejected the token: nothing goes out until it accepts it again.
    fn pause_for_token(&self, retry_in: Duration, answer: &str) {
        if self.token.rejected_since().is_none() {
            tracing::error!(
                %answer,
                retry_in_s = retry_in.as_secs(),
                "Discord rejected the bot token: sending nothing until it is accepted \
                 (replace DISCORD_TOKEN if it was reset); nothing is dropped"
            );
        }
        self.token.set_rejected(Some(Utc::now()));
        if let Ok(mut at) = self.token_retry_at.lock() {
            *at = Some(Instant::now() + retry_in);
        }
        if let Some(metrics) = &self.metrics {
            metrics.set_discord_token_rejected(true);
        }
    }

    /// While the token is rejected: how long until it is tried again. When that time has come,
    /// tries it (one cheap call); accepted, deliveries resume.
    async fn token_rejected(&self) -> Option<Duration> {
        let retry_at = (*self.token_retry_at.lock().ok()?)?;
        let wait = retry_at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            return Some(wait);
        }
        let retry_in = self.settings.refusals.token_retry;
        match self.rest.check_token().await {
            Ok(()) => {
                if let Ok(mut at) = self.token_retry_at.lock() {
                    *at = None;
                }
                self.token.set_rejected(None);
                if let Some(metrics) = &self.metrics {
                    metrics.set_discord_token_rejected(false);
                }
                tracing::info!("Discord accepts the bot token again: deliveries resume");
                None
            }
            Err(error) => {
                // Still rejected, or Discord is unreachable: the same wait either way.
                tracing::warn!(%error, "the bot token is still not accepted");
                if let Ok(mut at) = self.token_retry_at.lock() {
                    *at = Some(Instant::now() + retry_in);
                }
                Some(retry_in)
            }
        }
    }

    /// Exponential back-off with ±20% jitter, so retries of many rows do not arrive together.
    fn backoff(&self, attempts: i64) -> Duration {
        let exp = attempts.clamp(0, 16) as u32;
        let base = self
            .settings
            .retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.settings.retry_max);
        base.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
    }

    /// After a stop signal: delivers whatever is pending until nothing is, or `grace` has passed.
    /// Returns how many rows are still pending (they go out on the next start). A request cut
    /// off by the deadline is safe to repeat: posts carry their nonce.
    pub async fn drain(&self, grace: Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let pending = self.store.pending_deliveries().await.unwrap_or(-1);
            if pending == 0 || tokio::time::Instant::now() >= deadline {
                return pending;
            }
            match tokio::time::timeout_at(deadline, self.deliver_one(Utc::now())).await {
                Err(_) => return pending,
                Ok(Ok(Outcome::Idle)) => {
                    let _ = tokio::time::timeout_at(deadline, self.sleep_until_due()).await;
                }
                // Nothing can go out with a rejected token: the rows wait for the next start.
                Ok(Ok(Outcome::Paused { .. })) => return pending,
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot read the outbox while draining");
                    let _ = tokio::time::timeout_at(
                        deadline,
                        tokio::time::sleep(Duration::from_millis(200)),
                    )
                    .await;
                }
            }
        }
    }

    /// How long to wait for the next due row: at most a second even with nothing due (cheap, and
    /// robust to a missed wake-up).
    async fn until_due(&self) -> Duration {
        let wait = Duration::from_secs(1);
        match self.store.next_delivery_due_at().await {
            Ok(Some(due)) => wait.min(until(due)),
            _ => wait,
        }
    }

    async fn sleep_until_due(&self) {
        let wait = self.until_due().await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.wake.woken() => {}
        }
    }
}

impl Job for DeliveryWorker {
    const NAME: &'static str = "delivery";

    /// Delivers as fast as rows are due, otherwise sleeps until the next is due or new work is
    /// committed.
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        match self.deliver_one(now).await {
            Ok(Outcome::Idle) => Next::After(self.until_due().await),
            Ok(Outcome::Paused { wait }) => Next::Backoff(wait),
            Ok(_) => Next::Now,
            Err(error) => {
                tracing::error!(%error, "delivery worker cannot read the outbox; retrying in 1s");
                Next::Backoff(Duration::from_secs(1))
            }
        }
    }

    fn wake(&self) -> Option<Wake> {
        Some(self.wake.clone())
    }
}
