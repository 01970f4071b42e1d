//! Errors: the one error type of the library, with a kind that says what the caller should do.
//!
//! Owns: [`Error`] and [`ErrorKind`], and how a kind maps to an exit code and an HTTP status.
//! Never: depends on another module of the crate. Each module keeps its own precise error type
//! (with the file, device or order it is about) and converts it into an [`Error`] of the right
//! kind where that type is defined, so this leaf knows nothing about the modules above it.

use std::fmt;

/// What kind of failure an error is: decides the exit code of the command line and the HTTP
/// status of the web server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing matches (an order code, a clip, a station).
    NotFound,
    /// Bad input: a config, a code, an argument, a file that is not what it should be.
    Invalid,
    /// Refused because of the state of things: the data dir is held by another writer, a
    /// clip is under legal hold, a record cannot be taken now.
    Conflict,
    /// Something needed is not there now (a camera, the recorder, the network); try again.
    Unavailable,
    /// The evidence itself is damaged (a manifest line, a clip, a signature).
    Corrupt,
    /// Reading or writing failed (disk full, permissions).
    Io,
    /// A bug or a thread that died: restart, and report it.
    Internal,
}

impl ErrorKind {
    /// The process exit code (README, "Commands"): 1 for every error, 3 for damaged evidence.
    /// (2 is bad command-line usage, decided by the argument parser.)
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Corrupt => 3,
            _ => 1,
        }
    }

    /// The HTTP status of a request that failed this way.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Corrupt | ErrorKind::Io | ErrorKind::Internal => 500,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the library: a kind and the error that says what failed.
///
/// Its message is the inner error's message (which names the file, device or order); the
/// inner error's own source chain is kept for `{:#}` printing with anyhow.
pub struct Error {
    kind: ErrorKind,
    inner: Source,
}

/// A plain message used as an inner error.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl Error {
    /// An error of `kind` wrapping a precise error.
    pub fn new(kind: ErrorKind, inner: impl Into<Source>) -> Error {
        Error {
            kind,
            inner: inner.into(),
        }
    }

    /// An error of `kind` with a message (what failed, on what, and what to do).
    pub fn msg(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            inner: Box::new(Message(message.into())),
        }
    }

    /// `Invalid`, with a message.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::msg(ErrorKind::Invalid, message)
    }

    /// `Internal`, with a message.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::msg(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The precise error inside, when it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.inner.downcast_ref::<T>()
    }

    /// Puts `context` in front of the message ("station pack-1: ..."), keeping the kind.
    pub fn context(self, context: impl fmt::Display) -> Error {
        let kind = self.kind;
        Error {
            kind,
            inner: Box::new(Context {
                context: context.to_string(),
                inner: self.inner,
            }),
        }
    }
}

#[derive(Debug)]
struct Context {
    context: String,
    inner: Source,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.inner)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {:?})", self.kind, self.inner)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_exit_codes_and_statuses() {
        assert_eq!(ErrorKind::Corrupt.exit_code(), 3);
        assert_eq!(ErrorKind::NotFound.exit_code(), 1);
        assert_eq!(ErrorKind::Conflict.http_status(), 409);
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::Unavailable.http_status(), 503);
    }

    #[test]
    fn context_keeps_kind_and_message() {
        let e = Error::msg(ErrorKind::Conflict, "clip 4 is held").context("station s1");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.to_string(), "station s1: clip 4 is held");
    }
}
