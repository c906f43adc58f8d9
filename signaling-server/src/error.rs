//! Everything a client request can be refused for, and the one place that maps each refusal to its
//! protocol error code (docs/protocol.md, Errors).

use chat_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("binary frames are not part of the protocol; send JSON text")]
    BinaryFrame,
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("{0}")]
    Unauthorized(String),
    #[error("room names are 1-64 characters of A-Z a-z 0-9 . _ -")]
    InvalidRoomName,
    #[error("a client may be in at most {0} rooms")]
    TooManyRooms(usize),
    #[error("room is full ({0} peers)")]
    RoomFull(usize),
    #[error("you are not in room {0:?}")]
    NotInRoom(String),
    #[error("no such peer in this room")]
    UnknownPeer,
    #[error("already said hello")]
    DuplicateHello,
    #[error("too many sessions from your {0}; close one or wait for it to end")]
    TooManySessions(&'static str),
    #[error("server overloaded ({0}); try again later")]
    Overloaded(&'static str),
    #[error("token expired; reconnect with a fresh token and resume the session")]
    TokenExpired,
    #[error("{0}")]
    PushRefused(String),
    #[error("no SFU can take this call now; stay with fewer people or try again")]
    SfuUnavailable,
    #[error("{0}")]
    Internal(&'static str),
}

impl RequestError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::BadRequest(_)
            | RequestError::BinaryFrame
            | RequestError::InvalidRoomName
            | RequestError::TooManyRooms(_)
            | RequestError::DuplicateHello => ErrorCode::BadRequest,
            RequestError::RateLimited => ErrorCode::RateLimited,
            RequestError::Unauthorized(_) | RequestError::TokenExpired => ErrorCode::Unauthorized,
            RequestError::TooManySessions(_) => ErrorCode::TooManySessions,
            RequestError::Overloaded(_) => ErrorCode::Overloaded,
            RequestError::RoomFull(_) => ErrorCode::RoomFull,
            RequestError::NotInRoom(_) => ErrorCode::NotInRoom,
            RequestError::UnknownPeer => ErrorCode::UnknownPeer,
            RequestError::PushRefused(_) => ErrorCode::PushRefused,
            RequestError::SfuUnavailable => ErrorCode::SfuUnavailable,
            RequestError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Protocol errors count towards the limit of 10 per 10 s after which the connection is closed; a
    /// refused but well-formed request (room full, rate limited, ...) does not.
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            RequestError::BadRequest(_) | RequestError::BinaryFrame | RequestError::DuplicateHello
        )
    }
}
