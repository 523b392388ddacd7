//! Dashboard links signed with HMAC-SHA256: `/dashboard` in Discord signs a
//! [`Grant`](crate::domain::access::Grant), the web dashboard verifies it (constant time). The key
//! is made once and kept in the database (`store::dashboard`), so links survive a restart.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::access::Grant;

type HmacSha256 = Hmac<Sha256>;

/// The query parameters of a signed link, in the order a link carries them.
pub const PARAMS: [&str; 4] = ["guild", "user", "expires", "sig"];

/// Signs and checks dashboard links; knows where the dashboard is served.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
    /// `LOOPBOT_PUBLIC_URL` (or the HTTP address), without a trailing slash.
    public_url: String,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("key", &"[redacted]")
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl LinkSigner {
    pub fn new(key: [u8; 32], public_url: &str) -> Self {
        Self {
            key,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn mac(&self, grant: &Grant) -> [u8; 32] {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(grant.signed_text().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The query string carrying `grant` and its signature (no leading `?`).
    pub fn query(&self, grant: &Grant) -> String {
        format!(
            "guild={}&user={}&expires={}&sig={}",
            grant.guild,
            grant.user,
            grant.expires.timestamp(),
            hex::encode(self.mac(grant))
        )
    }

    /// The whole link `/dashboard` answers with.
    pub fn link(&self, grant: &Grant) -> String {
        format!("{}/dashboard?{}", self.public_url, self.query(grant))
    }

    /// Whether `signature` (hex) is this bot's signature of exactly `grant`, compared in
    /// constant time.
    pub fn verify(&self, grant: &Grant, signature: &str) -> bool {
        let Ok(presented) = hex::decode(signature) else {
            return false;
        };
        if presented.len() != 32 {
            return false;
        }
        self.mac(grant).ct_eq(&presented[..]).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_link_verifies_only_for_its_own_grant_and_key() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let signer = LinkSigner::new([7; 32], "https://bot.example.com/");
        let grant = Grant::issue(1, 2, now);
        let link = signer.link(&grant);
        assert!(link.starts_with("https://bot.example.com/dashboard?guild=1&user=2&expires="));
        let sig = link.rsplit("sig=").next().unwrap();
        assert!(signer.verify(&grant, sig));
        // Another server, person or expiry: the same signature does not hold.
        for other in [
            Grant { guild: 3, ..grant },
            Grant { user: 3, ..grant },
            Grant {
                expires: grant.expires + chrono::Duration::seconds(1),
                ..grant
            },
        ] {
            assert!(!signer.verify(&other, sig), "{other:?}");
        }
        // Another key, a cut or garbled signature.
        assert!(!LinkSigner::new([8; 32], "x").verify(&grant, sig));
        assert!(!signer.verify(&grant, &sig[..62]));
        assert!(!signer.verify(&grant, "zz"));
        assert!(!signer.verify(&grant, ""));
        assert!(!format!("{signer:?}").contains("7, 7"));
    }
}
