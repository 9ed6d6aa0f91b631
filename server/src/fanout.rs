//! Batches to the sessions that keep up, written by a few writer tasks.
//!
//! Each session has its own task, but waking 2,000 tasks for every batch cost
//! more of the server's user-space CPU than anything else it does. So a
//! session that is caught up, subscribed at full rate and drawing no chart
//! hands its socket, `seq`, batch and subscription to the writers
//! ([`Lane::hand`]) while it waits. A batch then wakes one writer per worker
//! thread, and each writer sends it to all of its sessions in one pass.
//!
//! A writer only ever sends a session the one batch after the last it has.
//! What it cannot finish at once it leaves to the session's own task, which it
//! wakes ([`Lane::kicked`]): a socket whose buffer is full (the session then
//! flushes with its send timeout), a session further behind (it merges), a
//! batch that withdraws quotes (it sends a snapshot). A session takes its
//! state back ([`Lane::reclaim`]) whenever it wakes, for anything, and hands it
//! over again before it waits.

use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::hub::{Batch, Published};
use crate::metrics::SharedMetrics;
use crate::socket::{Outgoing, Socket};
use crate::subscription::Subscription;
use crate::wire::{self, Encoding};

/// What a session hands the writers: where its client is.
#[derive(Debug)]
pub struct Handed {
    /// `seq` of the last snapshot or diff sent.
    pub seq: u64,
    /// The newest batch the client's view includes.
    pub batch: u64,
    pub sub: Subscription,
}

/// One session's socket, shared by its task and a writer. The lock is held
/// for one poll of the socket at a time, never across a wait.
pub struct Lane {
    encoding: Encoding,
    outlet: Mutex<Outlet>,
    kick: Notify,
    /// The session is over: the writer forgets the lane.
    shut: AtomicBool,
}

struct Outlet {
    socket: Option<Socket>,
    /// Set while the writers deliver for the session.
    handed: Option<Handed>,
}

impl Lane {
    fn outlet(&self) -> MutexGuard<'_, Outlet> {
        // Polls and plain fields only: a panic cannot leave it half-changed.
        self.outlet.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one poll of the socket; a shut lane's socket is gone.
    fn poll<T>(&self, f: impl FnOnce(&mut Socket) -> Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match self.outlet().socket.as_mut() {
            Some(socket) => f(socket),
            None => Poll::Ready(Err(closed())),
        }
    }

    /// How snapshots and diffs go to this client.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The next message from the client; `None` once it has gone.
    pub async fn recv(&self) -> Option<Result<Message, tungstenite::Error>> {
        poll_fn(|cx| match self.outlet().socket.as_mut() {
            Some(socket) => socket.poll_recv(cx),
            None => Poll::Ready(None),
        })
        .await
    }

    /// Sends one message and flushes it, after what earlier sends left.
    pub async fn send(&self, message: Outgoing<'_>) -> io::Result<()> {
        self.flush().await?;
        match self.outlet().socket.as_mut() {
            Some(socket) => socket.write(&message)?,
            None => return Err(closed()),
        }
        self.flush().await
    }

    /// Writes out whatever a writer left unsent.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll(|s| s.poll_flush(cx))).await
    }

    /// Closes the socket (after a close frame from the client).
    pub async fn close(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll(|s| s.poll_close(cx))).await
    }

    /// Lets the writers deliver for the session, unless a batch it has not
    /// got is out already (its own task sends that). Checked under the lock a
    /// writer delivers under: a batch published after the check finds the
    /// lane handed.
    pub fn hand(&self, seq: u64, batch: u64, sub: &Subscription, published: &Published) -> bool {
        let mut outlet = self.outlet();
        if outlet.socket.is_none() || published.no() != batch {
            return false;
        }
        outlet.handed = Some(Handed {
            seq,
            batch,
            sub: sub.clone(),
        });
        true
    }

    /// Takes back what [`Lane::hand`] gave, as the writers left it.
    pub fn reclaim(&self) -> Option<Handed> {
        self.outlet().handed.take()
    }

    /// Fires when a writer leaves something to the session's own task.
    pub async fn kicked(&self) {
        self.kick.notified().await
    }

    /// Ends the lane: the socket is closed now, the lane forgotten by the
    /// writer at its next batch.
    pub fn shut(&self) {
        self.shut.store(true, Ordering::Release);
        let mut outlet = self.outlet();
        outlet.handed = None;
        outlet.socket = None;
    }

    fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Sends `batch` if it is the one after the lane's last. Wakes the
    /// session for anything else it would take.
    fn deliver(&self, batch: &Batch, metrics: &SharedMetrics) {
        let mut outlet = self.outlet();
        let Outlet {
            socket: Some(socket),
            handed: Some(handed),
        } = &mut *outlet
        else {
            return;
        };
        if handed.batch >= batch.no {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let ready = matches!(socket.poll_flush(&mut cx), Poll::Ready(Ok(())));
        if !ready || handed.batch + 1 != batch.no || batch.withdrawn {
            drop(outlet);
            self.kick.notify_one();
            return;
        }
        handed.batch = batch.no;
        let Some(frame) = wire::diff_frame(handed.seq + 1, batch, &handed.sub, self.encoding)
        else {
            return;
        };
        handed.seq += 1;
        let bytes = frame.len();
        let flushed = socket.write(&frame).is_ok()
            && matches!(socket.poll_flush(&mut cx), Poll::Ready(Ok(())));
        metrics.messages_out.inc();
        metrics.bytes_out.inc_by(bytes as u64);
        metrics.fanout_sends.inc();
        if !flushed {
            // Partly unsent (or the socket broke): the
            // session's task waits for it under its send timeout.
            drop(outlet);
            self.kick.notify_one();
        }
    }
}

/// The writers of one set of sessions, each with its share of the lanes.
pub struct Fanout {
    /// Lanes opened since each writer's last batch.
    joining: Box<[Mutex<Vec<Arc<Lane>>>]>,
    next: AtomicUsize,
}

/// Lanes waiting to join a writer are pruned of shut ones past this many
/// (while no batch comes to take them, e.g. with the market closed).
const JOINING_PRUNED_PAST: usize = 256;

impl Fanout {
    /// Starts one writer per worker thread of the runtime for the batches
    /// `published` announces, until `stop` fires.
    pub fn start(
        published: Published,
        metrics: SharedMetrics,
        stop: CancellationToken,
    ) -> Arc<Fanout> {
        let writers = tokio::runtime::Handle::current().metrics().num_workers();
        let fanout = Arc::new(Fanout {
            joining: (0..writers.max(1)).map(|_| Mutex::default()).collect(),
            next: AtomicUsize::new(0),
        });
        for index in 0..fanout.joining.len() {
            let writer = write(
                fanout.clone(),
                index,
                published.clone(),
                metrics.clone(),
                stop.clone(),
            );
            // One pass writes to a thousand sockets: the runtime's budget of
            // operations per poll would stop it part of the way.
            tokio::spawn(tokio::task::coop::unconstrained(writer));
        }
        fanout
    }

    /// A lane for a new session's socket, joined to the next writer.
    pub fn lane(&self, socket: Socket, encoding: Encoding) -> Arc<Lane> {
        let lane = Arc::new(Lane {
            encoding,
            outlet: Mutex::new(Outlet {
                socket: Some(socket),
                handed: None,
            }),
            kick: Notify::new(),
            shut: AtomicBool::new(false),
        });
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.joining.len();
        let mut joining = lock(&self.joining[index]);
        if joining.len() >= JOINING_PRUNED_PAST {
            joining.retain(|lane| !lane.is_shut());
        }
        joining.push(lane.clone());
        lane
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One writer: every batch, to each of its lanes, starting at a different
/// one each time so no client is always last.
async fn write(
    fanout: Arc<Fanout>,
    index: usize,
    published: Published,
    metrics: SharedMetrics,
    stop: CancellationToken,
) {
    let mut lanes: Vec<Arc<Lane>> = Vec::new();
    let mut head = published.watch_head();
    let mut done = *head.borrow_and_update();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            changed = head.changed() => if changed.is_err() { return },
        }
        lanes.append(&mut lock(&fanout.joining[index]));
        lanes.retain(|lane| !lane.is_shut());
        let Ok(batches) = published.batches_after(done) else {
            // This writer fell behind what the hub keeps: the sessions
            // catch up (or are dropped) on their own.
            lanes.iter().for_each(|lane| lane.kick.notify_one());
            done = published.no();
            continue;
        };
        for batch in &batches {
            let start = usize::try_from(batch.no).unwrap_or(0) % lanes.len().max(1);
            let (before, after) = lanes.split_at(start);
            for lane in after.iter().chain(before) {
                lane.deliver(batch, &metrics);
            }
            done = batch.no;
        }
    }
}
