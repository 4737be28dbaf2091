//! [`Secret`]: a wrapper for any secret value (a token, a password, a recovery code) that is
//! zeroized when dropped and never printed.
//!
//! It must never gain `Display`, `Serialize` or a `Debug` that shows its contents: reading the
//! value is always an explicit, greppable `expose()`.

use std::fmt;

use zeroize::Zeroize;

/// A secret value: `Debug` prints `Secret([REDACTED])`, the value is zeroized on drop, and the
/// only way to read it is [`Secret::expose`].
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Takes ownership of `value`. The caller should not keep other copies of it.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the secret value. Every call site is a place where the secret is used; keep them
    /// few and never pass the result to a logger or formatter.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let canary = "canary-7f3a9c2e-do-not-print";
        let secret = Secret::new(canary.to_owned());
        for shown in [
            format!("{secret:?}"),
            format!("{secret:#?}"),
            format!("{:?}", Some(&secret)),
        ] {
            assert!(
                !shown.contains("canary"),
                "Debug leaked the secret: {shown}"
            );
            assert!(
                shown.contains("Secret([REDACTED])"),
                "unexpected Debug output: {shown}"
            );
        }
        assert_eq!(secret.expose(), canary);
    }

    #[test]
    fn bytes_are_redacted_too() {
        let secret = Secret::new(vec![0xAB_u8; 8]);
        let shown = format!("{secret:?}");
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }
}
