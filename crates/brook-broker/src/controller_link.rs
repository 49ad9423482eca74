//! Which controller voter a broker talks to, and how it follows the active one.
//!
//! A broker knows the voters from `controller.quorum.voters`, not which of them is active. It
//! keeps a guess; every controller response carries `active_controller_id`, so a
//! `NOT_CONTROLLER` answer moves the guess straight to the named voter, and a voter that does not
//! answer (dead, or cut off by the fault model) moves it to the next one in id order. Heartbeats,
//! registration, AlterPartition, producer-id blocks, metadata long-polls and forwarded admin
//! requests all go through here, so after a failover they all reach the new active controller.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::controller_client::ControllerClient;
use brook_proto::v1::*;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::error::BrokerError;

/// Request metadata naming the broker that forwarded an admin request.
pub const FORWARDED: &str = "brook-forwarded-by";
/// Response metadata of a NOT_CONTROLLER refusal: the active controller's id, if known.
pub const ACTIVE: &str = "brook-active-controller";

/// Pause between tries when no voter named the active controller: grows to `MAX_PAUSE`.
/// (Short: while voters elect, every broker polls for the winner; the election takes tens of
/// milliseconds with small timeouts.)
const MIN_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// A controller response: its error code and the active controller it names.
pub trait ControllerAnswer {
    /// The response's Kafka error code on the wire (0 = none; `NOT_CONTROLLER` makes the link
    /// follow [`Self::active_controller_id`]).
    fn error_code(&self) -> i32;
    /// The voter the answering controller names as active; -1 if it knows none.
    fn active_controller_id(&self) -> i32;
}

macro_rules! answer {
    ($($t:ty),*) => {$(
        impl ControllerAnswer for $t {
            fn error_code(&self) -> i32 { self.error_code }
            fn active_controller_id(&self) -> i32 { self.active_controller_id }
        }
    )*};
}
answer!(
    RegisterBrokerResponse,
    BrokerHeartbeatResponse,
    FetchMetadataResponse,
    AlterPartitionResponse,
    AllocateProducerIdsResponse
);

/// How long a voter that did not answer is not taken for the active controller on others' word:
/// right after the active controller dies the other voters still name it until they elect.
const DEAD_FOR: Duration = Duration::from_millis(500);

/// The broker's view of the controller quorum.
#[derive(Debug)]
pub struct ControllerLink {
    voters: Vec<(i32, String)>,
    /// Index into `voters` of the current guess.
    current: AtomicUsize,
    /// The voter last logged as the active controller (one line per change, not per redirect).
    logged: std::sync::atomic::AtomicI32,
    /// Voters that recently failed to answer, and when.
    unanswered: std::sync::Mutex<std::collections::BTreeMap<i32, Instant>>,
    channels: Channels,
    request_timeout: Duration,
}

impl ControllerLink {
    /// `voters` must not be empty (the config guarantees a controller list or this node).
    pub fn new(voters: Vec<(i32, String)>, channels: Channels, request_timeout: Duration) -> Self {
        let mut voters = voters;
        voters.sort();
        ControllerLink {
            voters,
            current: AtomicUsize::new(0),
            logged: std::sync::atomic::AtomicI32::new(-1),
            unanswered: std::sync::Mutex::default(),
            channels,
            request_timeout,
        }
    }

    /// The voter currently believed active: `(index, id, address)`.
    fn target(&self) -> Option<(usize, i32, &str)> {
        let i = self.current.load(Ordering::Acquire) % self.voters.len().max(1);
        self.voters.get(i).map(|(id, a)| (i, *id, a.as_str()))
    }

    /// The id of the voter this broker currently talks to.
    pub fn current_id(&self) -> i32 {
        self.target().map_or(-1, |t| t.1)
    }

    fn channel(&self) -> Result<(usize, Channel), BrokerError> {
        let (i, _, addr) = self.target().ok_or_else(|| {
            BrokerError::new(ErrorCode::NotController, "no controller voters configured")
        })?;
        let ch = self
            .channels
            .get(addr)
            .map_err(|e| BrokerError::new(ErrorCode::BrokerNotAvailable, e.to_string()))?;
        Ok((i, ch))
    }

    /// After a NOT_CONTROLLER answer from voter index `from`: go to `hint` if it names a voter
    /// that answered lately, else to the next voter. Returns whether it followed the hint. A
    /// concurrent move by someone else wins.
    pub fn redirect(&self, from: usize, hint: i32) -> bool {
        let hint = if self.recently_unanswered(hint) {
            -1
        } else {
            hint
        };
        let hinted = self.voters.iter().position(|(id, _)| *id == hint);
        let to = hinted.unwrap_or((from + 1) % self.voters.len().max(1));
        if to != from {
            let _ = self
                .current
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
        }
        if hinted.is_some() && self.logged.swap(hint, Ordering::AcqRel) != hint {
            tracing::info!(controller = hint, "following the active controller");
        }
        hinted.is_some()
    }

    /// Voter index `from` did not answer at all.
    fn unanswered(&self, from: usize) {
        if let Some((id, _)) = self.voters.get(from) {
            self.unanswered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(*id, Instant::now());
        }
        self.redirect(from, -1);
    }

    fn recently_unanswered(&self, id: i32) -> bool {
        self.unanswered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .is_some_and(|t| t.elapsed() < DEAD_FOR)
    }

    /// Calls the active controller, following redirects and trying the other voters, until it
    /// answers with anything but NOT_CONTROLLER or `deadline` passes.
    pub async fn call<R, F, Fut>(
        &self,
        what: &str,
        deadline: Duration,
        mut f: F,
    ) -> Result<R, BrokerError>
    where
        R: ControllerAnswer,
        F: FnMut(ControllerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let until = Instant::now() + deadline;
        let mut pause = MIN_PAUSE;
        loop {
            let (from, hinted) = match self.channel() {
                Ok((i, ch)) => {
                    let client = ControllerClient::new(ch).max_decoding_message_size(usize::MAX);
                    match tokio::time::timeout(self.request_timeout, f(client)).await {
                        Ok(Ok(r)) => {
                            let r = r.into_inner();
                            if ErrorCode::from_wire(r.error_code()) != ErrorCode::NotController {
                                return Ok(r);
                            }
                            (i, self.redirect(i, r.active_controller_id()))
                        }
                        _ => {
                            self.unanswered(i);
                            (i, false)
                        }
                    }
                }
                Err(_) => (self.current.load(Ordering::Acquire), false),
            };
            if Instant::now() >= until {
                return Err(BrokerError::new(
                    ErrorCode::NotController,
                    format!(
                        "{what}: no active controller answered (last tried voter index {from})"
                    ),
                ));
            }
            if !hinted {
                tokio::time::sleep(pause.min(until.saturating_duration_since(Instant::now())))
                    .await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }

    /// An Admin client on the voter currently believed active, with its index (for `redirect`).
    pub fn admin(&self) -> Result<(usize, AdminClient<Channel>), BrokerError> {
        let (i, ch) = self.channel()?;
        Ok((
            i,
            AdminClient::new(ch).max_decoding_message_size(usize::MAX),
        ))
    }

    /// How long one controller RPC may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// `msg` as a forwarded request.
pub fn forwarded<T>(node_id: i32, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = node_id.to_string().parse() {
        r.metadata_mut().insert(FORWARDED, v);
    }
    r
}

impl ControllerLink {
    /// Sends an admin request to the active controller (`call` builds it on a client of the
    /// voter believed active), following NOT_CONTROLLER redirects and trying the other voters
    /// until `deadline`; an answer that is not a redirect is passed back as it is.
    pub async fn forward<R, F, Fut>(
        &self,
        deadline: Duration,
        mut call: F,
    ) -> Result<Response<R>, Status>
    where
        F: FnMut(AdminClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let link = self;
        let until = Instant::now() + deadline;
        let mut pause = MIN_PAUSE;
        loop {
            let (from, client) = link
                .admin()
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let hinted = match tokio::time::timeout(link.request_timeout(), call(client)).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(status)) if status.message().starts_with("NOT_CONTROLLER") => {
                    let hint = status
                        .metadata()
                        .get(ACTIVE)
                        .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
                        .unwrap_or(-1);
                    link.redirect(from, hint)
                }
                Ok(Err(status)) if status.code() != tonic::Code::Unavailable => return Err(status),
                _ => {
                    link.unanswered(from);
                    false
                }
            };
            if Instant::now() >= until {
                return Err(Status::unavailable(
                    "NOT_CONTROLLER: no active controller answered before the request's deadline \
                 (is a majority of controller.quorum.voters up?)",
                ));
            }
            if !hinted {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}
