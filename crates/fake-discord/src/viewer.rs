//! What a viewer of the local Discord needs (loopbot's sandbox page): more text channels, the
//! channel list (threads included), and a signal that something changed, so a page can update
//! live instead of polling.

use serde_json::Value;

use crate::json::text_channel_json;
use crate::FakeDiscord;

impl FakeDiscord {
    /// Adds the text channel `id` named `name` to `guild` (a fixed id, so what a bot stored
    /// about it still holds after a restart). Add channels before the bot identifies:
    /// GUILD_CREATE lists the channels known then.
    pub fn add_text_channel(&self, guild: u64, id: u64, name: &str) {
        let mut state = self.lock();
        let position = state
            .channels
            .values()
            .filter(|c| c["guild_id"] == guild.to_string().as_str())
            .count() as u64;
        state
            .channels
            .insert(id, text_channel_json(id, guild, name, position));
        drop(state);
        self.changed();
    }

    /// Every channel as Discord channel JSON, threads (with `parent_id`) and the DM included.
    pub fn channels(&self) -> Vec<Value> {
        self.lock().channels.values().cloned().collect()
    }

    /// The content type and bytes of the uploaded attachment `id` (its URL points nowhere).
    pub fn attachment(&self, id: u64) -> Option<(Option<String>, Vec<u8>)> {
        self.lock().files.get(&id).cloned()
    }

    /// A receiver whose value moves each time the server's state may have changed (a REST
    /// request answered, an event sent): wait on it with `changed()`, then read what you show.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn changed(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
    }
}
