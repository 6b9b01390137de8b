//! One word per variant of an enum that people read: the same in JSON (serde's snake_case), in text
//! (`Display`) and in DynamoDB's index keys (`as_str`), so that no surface spells a status its own
//! way. A module of its own, so that the modules whose enums use it need not import each other.

/// One word per variant, the same in JSON (serde's snake_case), in text (`Display`) and in
/// DynamoDB's index keys (`as_str`), so that no surface spells a status its own way.
macro_rules! words {
    ($kind:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $kind {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use words;
