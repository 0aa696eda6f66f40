//! Channel names and socket ids as the Pusher protocol defines them. The
//! app-side authorizer and the server read them through this one model.

/// What a channel name's prefix makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Anyone may subscribe.
    Public,
    /// `private-`: needs a signed auth.
    Private,
    /// `private-encrypted-`: needs a signed auth; payloads are end-to-end
    /// encrypted by the app and opaque to the server.
    PrivateEncrypted,
    /// `presence-`: needs a signed auth with member data.
    Presence,
}

/// Longest channel name the protocol allows.
pub const MAX_CHANNEL_NAME: usize = 200;

impl ChannelKind {
    /// The kind a full channel name's prefix gives it; no prefix is public.
    pub fn of(channel: &str) -> Self {
        if channel.starts_with("private-encrypted-") {
            Self::PrivateEncrypted
        } else if channel.starts_with("private-") {
            Self::Private
        } else if channel.starts_with("presence-") {
            Self::Presence
        } else {
            Self::Public
        }
    }

    /// Private, encrypted and presence channels need an auth signature.
    pub fn needs_auth(self) -> bool {
        self != Self::Public
    }

    /// Client (`client-*`) events are allowed on private and presence channels.
    pub fn allows_client_events(self) -> bool {
        matches!(self, Self::Private | Self::Presence)
    }

    /// The name without its prefix, as authorization patterns are written.
    pub fn strip(channel: &str) -> &str {
        for prefix in ["private-encrypted-", "private-", "presence-"] {
            if let Some(rest) = channel.strip_prefix(prefix) {
                return rest;
            }
        }
        channel
    }
}

/// `[A-Za-z0-9_\-=@,.;]`, 1 to 200 characters.
pub fn valid_channel_name(channel: &str) -> bool {
    !channel.is_empty()
        && channel.len() <= MAX_CHANNEL_NAME
        && channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b))
}

/// `digits.digits`, as servers hand out.
pub fn valid_socket_id(socket_id: &str) -> bool {
    match socket_id.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 20
                && b.len() <= 20
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_names() {
        assert_eq!(ChannelKind::of("orders"), ChannelKind::Public);
        assert_eq!(ChannelKind::of("private-orders.1"), ChannelKind::Private);
        assert_eq!(
            ChannelKind::of("private-encrypted-x"),
            ChannelKind::PrivateEncrypted
        );
        assert_eq!(ChannelKind::of("presence-room"), ChannelKind::Presence);
        assert_eq!(ChannelKind::strip("presence-room.1"), "room.1");
        assert!(valid_channel_name("private-orders.1"));
        assert!(!valid_channel_name("orders 1"));
        assert!(!valid_channel_name(""));
        assert!(!valid_channel_name(&"a".repeat(201)));
        assert!(valid_socket_id("123.456"));
        assert!(!valid_socket_id("123"));
        assert!(!valid_socket_id("1.2.3"));
        assert!(!valid_socket_id("a.1"));
    }
}
