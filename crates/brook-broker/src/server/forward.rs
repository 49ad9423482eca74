//! Where an admin change runs: locally when this process is the active controller, otherwise
//! forwarded (once: a forwarded request is never forwarded again) with
//! [`ControllerLink::forward`](crate::controller_link::ControllerLink::forward), which follows
//! NOT_CONTROLLER redirects and tries the other voters until the request's deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brook_proto::v1::admin_client::AdminClient;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::broker::Broker;
use crate::controller::host::ControllerHost;
use crate::controller_link::{ACTIVE, FORWARDED, forwarded};

/// Where an admin change must run, as seen by the broker that received it.
pub(super) enum Route {
    /// This process is the active controller.
    Local(Arc<ControllerHost>),
    /// Forward it to the active controller.
    Forward,
}

/// Decides where a change received in `req` runs; a forwarded request that reached a voter
/// that is not (or no longer) active is refused with NOT_CONTROLLER naming the active one.
pub(super) fn route<T>(b: &Broker, req: &Request<T>) -> Result<Route, Status> {
    if let Some(host) = b.controller().filter(|h| h.is_active()) {
        return Ok(Route::Local(host.clone()));
    }
    if req.metadata().contains_key(FORWARDED) {
        let active = b.controller().map_or(-1, |h| h.active_controller_id());
        let mut status = Status::unavailable(format!(
            "NOT_CONTROLLER: node {} is not the active controller (active: {active})",
            b.config.node_id
        ));
        if let Ok(v) = active.to_string().parse() {
            status.metadata_mut().insert(ACTIVE, v);
        }
        return Err(status);
    }
    Ok(Route::Forward)
}

/// Where a change received in `req` runs: `Ok(Ok((host, req)))` when this process is the
/// active controller (run it on `host`), else it is forwarded with `call` and `Ok(Err(answer))`
/// is the active controller's answer, to pass on as it is.
#[allow(clippy::type_complexity)]
pub(super) async fn on_active<Req, R, F, Fut>(
    b: &Broker,
    req: Request<Req>,
    timeout_ms: i32,
    call: F,
) -> Result<Result<(Arc<ControllerHost>, Req), Response<R>>, Status>
where
    Req: Clone,
    F: Fn(AdminClient<Channel>, Request<Req>) -> Fut,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    match route(b, &req)? {
        Route::Local(host) => Ok(Ok((host, req.into_inner()))),
        Route::Forward => {
            let msg = req.into_inner();
            let me = b.config.node_id;
            let wait = deadline(timeout_ms, b);
            b.controller_link
                .forward(wait, |c| call(c, forwarded(me, msg.clone())))
                .await
                .map(Err)
        }
    }
}

/// A request's `timeout_ms` as a forwarding deadline: three quarters of it, so that the broker
/// answers (with the reason) before the client gives up on the same clock; 30 s when the
/// request names none.
fn deadline(timeout_ms: i32, _b: &Broker) -> Duration {
    let asked = if timeout_ms > 0 {
        Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(30_000))
    } else {
        Duration::from_secs(30)
    };
    (asked * 3 / 4).max(Duration::from_millis(100))
}
