//! [`Report`]: an error and every error it was caused by, on one line
//! (`the gateway session store failed: Redis: connection refused`). Errors keep their
//! cause as [`source`](std::error::Error::source) instead of repeating it in their
//! message; a log line, a stop reason or a status field prints the whole chain
//! through this.

use std::error::Error;
use std::fmt;

/// Displays an error followed by its sources, separated by `": "`.
#[derive(Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Report;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn prints_the_chain() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(Report(&e).to_string(), "outer: inner");
        let plain = std::io::Error::other("alone");
        assert_eq!(Report(&plain).to_string(), "alone");
    }
}
