//! `/link-deployer` and `/unlink-deployer`: a CI user name linked to a Discord account, so
//! check-ins of that person's deploys mention them. A name someone else holds can be taken (or
//! unlinked) only with Manage Server; `/link-deployer` without a name lists your links.

use chrono::Utc;
use poise::CreateReply;

use super::access::{allow, command_actor};
use super::context::{CommandError, Context, Data};
use super::message::truncate;
use crate::domain::access::{decide, Action};
use crate::store::LinkOutcome;

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![link_deployer(), unlink_deployer()]
}

async fn say(ctx: Context<'_>, text: String) -> Result<(), CommandError> {
    ctx.send(
        CreateReply::default()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(poise::serenity_prelude::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

fn clean(name: &str) -> Result<&str, CommandError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CommandError::Refused("The name is empty.".into()));
    }
    Ok(name)
}

/// Link your CI user name to your Discord account (without a name: show your links).
#[poise::command(slash_command, rename = "link-deployer")]
pub async fn link_deployer(
    ctx: Context<'_>,
    #[description = "Your user name as your CI reports it (the deployer field); empty: show your links"]
    #[max_length = 200]
    name: Option<String>,
) -> Result<(), CommandError> {
    let user = ctx.author().id.get();
    let Some(name) = name else {
        let names = ctx.data().store.deployer_links_of(user).await?;
        let text = if names.is_empty() {
            "No CI name is linked to you. Link one with `/link-deployer name:<ci user name>`."
                .to_owned()
        } else {
            let names: Vec<String> = names
                .iter()
                .take(50)
                .map(|n| format!("`{}`", truncate(n, 200)))
                .collect();
            format!("Check-ins of deploys by {} mention you.", names.join(", "))
        };
        return say(ctx, text).await;
    };
    let name = clean(&name)?;
    let actor = command_actor(ctx);
    let may_take = decide(&ctx.data().access, &actor, Action::TakeDeployerName).is_ok();
    let guild = ctx.guild_id().map(|g| g.get());
    let outcome = ctx
        .data()
        .store
        .link_deployer(name, user, guild, may_take, Utc::now())
        .await?;
    let shown = truncate(name, 200);
    let text = match outcome {
        LinkOutcome::Linked => {
            format!("Linked: check-ins of deploys by `{shown}` will mention you.")
        }
        LinkOutcome::TakenFrom(other) => format!(
            "Linked: `{shown}` was linked to <@{other}>; check-ins of its deploys now mention you."
        ),
        LinkOutcome::HeldBy(other) => {
            // Says what is needed: Manage Server (the same sentence as every refusal).
            let refusal = allow(ctx.data(), &actor, Action::TakeDeployerName)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            format!("`{shown}` is linked to <@{other}>, so it stays theirs. {refusal}")
        }
    };
    say(ctx, text).await
}

/// Remove the link of a CI user name (yours; someone else's needs Manage Server).
#[poise::command(slash_command, rename = "unlink-deployer")]
pub async fn unlink_deployer(
    ctx: Context<'_>,
    #[description = "The CI user name to unlink"]
    #[max_length = 200]
    name: String,
) -> Result<(), CommandError> {
    let name = clean(&name)?;
    let shown = truncate(name, 200);
    let store = &ctx.data().store;
    let text = match store.deployer_link_owner(name).await? {
        None => format!("`{shown}` is not linked to anyone; nothing changed."),
        Some(owner) => {
            if owner != ctx.author().id.get() {
                allow(ctx.data(), &command_actor(ctx), Action::TakeDeployerName)?;
            }
            store.unlink_deployer(name).await?;
            format!("Unlinked: check-ins of deploys by `{shown}` mention nobody now.")
        }
    };
    say(ctx, text).await
}
