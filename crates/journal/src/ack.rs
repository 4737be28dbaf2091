//! Acknowledging appenders and waiting cheaply: the reply slots, the acker thread, and the
//! bounded polling used before a thread goes to sleep.
//!
//! Waking dozens of blocked appenders costs one futex wake each; doing that on the writer thread
//! would keep it from starting the next batch's fsync. Batches of two or more replies are handed
//! to the acker thread, single replies are sent inline (no extra hop for a lone writer). Replies
//! reach this module only after their batch is durable and the hook ran; it must never reorder
//! or invent results, only deliver them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::Position;
use crate::error::Result;

/// Where an appender waits for its answer.
pub(crate) enum Reply {
    Async(oneshot::Sender<Result<Position>>),
    Blocking(BlockingReply),
}

/// One-shot slot for a blocked appender: a mutex and a condvar, so that under load waiting is a
/// plain futex wait (`std::sync::mpsc` spins and yields first, which steals CPU from the writer
/// when many threads wait). Only a lone appender polls `answered` first.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
    /// Set after `state` leaves `Waiting`, so a spinning waiter can poll without the mutex.
    answered: AtomicBool,
}

#[derive(Default)]
enum SlotState {
    #[default]
    Waiting,
    Done(Result<Position>),
    /// The sender was dropped without an answer (the writer is gone).
    Dropped,
    Taken,
}

/// The writer's end of a [`Slot`]. Dropping it unanswered wakes the waiter with "gone".
pub(crate) struct BlockingReply(Arc<Slot>);

/// The appender's end of a [`Slot`].
pub(crate) struct BlockingWait(Arc<Slot>);

/// A connected pair for one blocking append.
pub(crate) fn blocking_pair() -> (BlockingReply, BlockingWait) {
    let slot = Arc::new(Slot::default());
    (BlockingReply(Arc::clone(&slot)), BlockingWait(slot))
}

impl BlockingReply {
    fn set(&self, state: SlotState) {
        let mut guard = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*guard, SlotState::Waiting) {
            *guard = state;
            self.0.answered.store(true, Ordering::Release);
            self.0.ready.notify_one();
        }
    }
}

impl Drop for BlockingReply {
    fn drop(&mut self) {
        self.set(SlotState::Dropped);
    }
}

impl BlockingWait {
    /// Blocks until answered; `None` when the writer dropped the request unanswered.
    ///
    /// First polls (yielding the CPU between polls) for at most `spin`, while `keep_spinning`
    /// says so: waking a sleeping thread costs tens of microseconds on a virtual machine, as much
    /// as a fast fdatasync. The caller keeps spinning only while it is the only appender in
    /// flight, so that under load nobody burns CPU the writer needs.
    pub(crate) fn wait(
        self,
        spin: Duration,
        keep_spinning: impl Fn() -> bool,
    ) -> Option<Result<Position>> {
        let slot = &self.0;
        let start = Instant::now();
        while !slot.answered.load(Ordering::Acquire) && start.elapsed() < spin && keep_spinning() {
            std::thread::yield_now();
        }
        let mut guard = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
        while matches!(*guard, SlotState::Waiting) {
            guard = slot
                .ready
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match std::mem::replace(&mut *guard, SlotState::Taken) {
            SlotState::Done(result) => Some(result),
            SlotState::Waiting | SlotState::Dropped | SlotState::Taken => None,
        }
    }
}

impl Reply {
    pub(crate) fn send(self, result: Result<Position>) {
        // An appender that stopped waiting (dropped future) is not an error of the journal.
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Blocking(slot) => slot.set(SlotState::Done(result)),
        }
    }
}

/// How long the writer polls for the next append before sleeping.
pub(crate) const POLL_WINDOW: Duration = Duration::from_micros(200);

type Acks = Vec<(Reply, Result<Position>)>;

/// The acker thread. Dropping it delivers everything handed over, then joins the thread.
pub(crate) struct Acker {
    tx: Option<mpsc::Sender<Acks>>,
    handle: Option<JoinHandle<()>>,
}

impl Acker {
    /// Starts the thread; `None` if the OS refuses (acks are then sent inline).
    pub(crate) fn spawn() -> Option<Acker> {
        let (tx, rx) = mpsc::channel::<Acks>();
        let handle = std::thread::Builder::new()
            .name("journal-acker".to_owned())
            .spawn(move || {
                while let Ok(acks) = rx.recv() {
                    deliver(acks);
                }
            })
            .ok()?;
        Some(Acker {
            tx: Some(tx),
            handle: Some(handle),
        })
    }
}

fn deliver(acks: Acks) {
    for (reply, result) in acks {
        reply.send(result);
    }
}

/// Delivers `acks`: through the acker when there are several, inline otherwise.
pub(crate) fn ack(acker: Option<&Acker>, acks: Acks) {
    if acks.len() < 2 {
        return deliver(acks);
    }
    match acker.and_then(|a| a.tx.as_ref()) {
        Some(tx) => {
            if let Err(mpsc::SendError(acks)) = tx.send(acks) {
                deliver(acks);
            }
        }
        None => deliver(acks),
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::error!("journal acker thread panicked");
        }
    }
}

/// Receives from `rx`, polling (and yielding the CPU) for up to `window` before sleeping. Under
/// a steady stream the next message usually comes within that window, which saves the wake-up
/// of a sleeping thread (tens of microseconds on a virtual machine).
pub(crate) fn recv_polling<T>(
    rx: &mpsc::Receiver<T>,
    window: Duration,
) -> Result<T, mpsc::RecvError> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < window => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => return rx.recv(),
        }
    }
}
