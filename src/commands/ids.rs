//! Typed ids for the entities a command option can refer to, so a handler cannot
//! pass a role id where a user id belongs. They wrap the provider's id string
//! (Discord snowflakes in decimal).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The provider's id.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

id_type! {
    /// A user's id.
    UserId;
    /// A channel's id.
    ChannelId;
    /// A role's id.
    RoleId;
    /// A user's or a role's id (a mentionable option's value; which one it is needs
    /// the interaction's resolved data).
    MentionableId;
    /// An uploaded attachment's id.
    AttachmentId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_transparent_strings() {
        let u = UserId::from("80351110224678912");
        assert_eq!(u.as_str(), "80351110224678912");
        assert_eq!(u.to_string(), "80351110224678912");
        assert_eq!(
            serde_json::to_string(&u).expect("serializes"),
            r#""80351110224678912""#
        );
        let r: RoleId = serde_json::from_str(r#""41771983423143936""#).expect("parses");
        assert_eq!(r, RoleId("41771983423143936".into()));
    }
}
