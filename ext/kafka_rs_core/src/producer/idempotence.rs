//! Idempotent producing: the producer id and epoch, and what an answer means for sequences.
//!
//! An idempotent producer gets a producer id and epoch from any broker (InitProducerId with no
//! transactional id) and stamps every record batch with them and a *base sequence*: the
//! partition's running count of records sent under this epoch. The broker keeps the last five
//! batches' sequences per producer and partition, so a retried batch that had in fact been
//! written is acknowledged as a duplicate instead of being written twice, and a batch that
//! arrives after a gap is refused, so order holds with up to five requests in flight.
//!
//! Rules kept by the accumulator (this module holds the state and the decisions; no I/O):
//! - A batch gets its sequence when it is first drained and keeps it on every retry.
//! - A retried batch is sent again only when nothing else of its partition is in flight, so
//!   it cannot overtake a lower sequence and every sequence after it is resent in order.
//! - When sequences can no longer line up with the broker's (a batch failed for good after it
//!   was sent, or the broker says it lost this producer's state), the epoch is bumped once no
//!   batch is in flight: every partition restarts at sequence 0 under the new epoch and every
//!   queued batch is given a fresh sequence when it is drained. The bump is local (the broker
//!   accepts a higher epoch of a known producer starting at sequence 0), as the Java client does
//!   for idempotent producers; at the highest epoch a fresh producer id is fetched instead.

use crate::error::Error;
use crate::error_code::ErrorCode;
use crate::log::Level;

/// The producer id and epoch stamped on every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub id: i64,
    pub epoch: i16,
}

/// The sequence a batch was given when it was first sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub producer: ProducerIdentity,
    pub base_sequence: i32,
}

/// The producer's idempotence state (inside the accumulator, under its mutex).
#[derive(Debug, Default)]
pub struct Idempotence {
    pub enabled: bool,
    /// `None` until InitProducerId answered (and again when a fresh id is needed).
    pub identity: Option<ProducerIdentity>,
    /// Sequences went out of line: bump the epoch once nothing is in flight.
    pub bump_requested: bool,
    /// The broker refused a producer id for good: every message fails with this.
    pub fatal: Option<Error>,
    /// The last retriable failure of InitProducerId since the last id: messages that time out
    /// waiting for an id say why.
    pub init_failure: Option<Error>,
}

impl Idempotence {
    pub fn new(enabled: bool) -> Idempotence {
        Idempotence {
            enabled,
            ..Idempotence::default()
        }
    }

    /// Whether batches may be drained: the producer has an id and no bump is waiting.
    pub fn ready(&self) -> bool {
        !self.enabled || (self.identity.is_some() && !self.bump_requested && self.fatal.is_none())
    }

    /// Whether the sender should ask a broker for a producer id.
    pub fn needs_producer_id(&self) -> bool {
        self.enabled && self.identity.is_none() && self.fatal.is_none()
    }

    /// Why messages wait, when they wait for a producer id that a broker has not given yet.
    pub fn waiting_for_id(&self) -> Option<&Error> {
        if self.needs_producer_id() {
            self.init_failure.as_ref()
        } else {
            None
        }
    }

    /// Applies a requested bump (the caller checked that nothing is in flight): the next epoch,
    /// or no identity at all (a fresh id is fetched) when the epoch cannot grow. Returns whether
    /// sequences must restart at 0.
    pub fn bump(&mut self) -> bool {
        if !self.bump_requested {
            return false;
        }
        self.bump_requested = false;
        self.identity = match self.identity {
            Some(p) if p.epoch < i16::MAX => Some(ProducerIdentity {
                id: p.id,
                epoch: p.epoch + 1,
            }),
            _ => None,
        };
        true
    }
}

/// The sequence after `base` and `count` records: sequences wrap to 0 after `i32::MAX`, as the
/// broker expects.
pub fn next_sequence(base: i32, count: usize) -> i32 {
    ((base as i64 + count as i64) % (i32::MAX as i64 + 1)) as i32
}

/// What a Produce error means for a sequenced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// The broker already has this batch: it counts as delivered (offset unknown).
    Duplicate,
    /// An earlier batch of the partition failed, so this one arrived after a gap: resend it in
    /// order, with the same sequence.
    ResendInOrder,
    /// The broker lost or refuses this producer's state for the partition: bump the epoch and
    /// resend under it.
    Bump,
    /// Not a sequence error.
    Other,
}

/// Classifies `code` for a batch with base sequence `base`, given the partition's next expected
/// sequence (the sequence right after the last acknowledged batch, or 0 when none was
/// acknowledged under this epoch).
pub fn verdict(code: ErrorCode, base: i32, expected: i32) -> SequenceVerdict {
    match code {
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER => SequenceVerdict::Duplicate,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID
            if base != expected =>
        {
            SequenceVerdict::ResendInOrder
        }
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        | ErrorCode::UNKNOWN_PRODUCER_ID
        | ErrorCode::INVALID_PRODUCER_EPOCH => SequenceVerdict::Bump,
        _ => SequenceVerdict::Other,
    }
}

/// What the sender does after an InitProducerId attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitVerdict {
    /// Ask again after a backoff.
    Retry,
    /// No message waits for the id: stop asking; the next message starts again.
    Stop,
    /// The messages waiting for the id fail with the error; the next message starts again.
    GiveUp,
    /// Every message fails with the error, now and later ([`Idempotence::fatal`]).
    Fail,
}

/// Decides what follows a failed InitProducerId; `unanswered` counts the attempts so far that no
/// broker answered (this one included), `max_retries` is the messages' retry count (`None`:
/// unlimited).
///
/// Getting a producer id is set-up, not a send: a broker that *answers* with a retriable error
/// is asked again while messages wait, whatever `max_retries` says, and the delivery timeout
/// ends the wait (as in the Java client). So a producer with no retries still gets its id from
/// a broker that answers `COORDINATOR_LOAD_IN_PROGRESS` at first, as every broker does after it
/// starts until the controller gave it a block of ids. When no broker answers (connection
/// failures, timeouts), the waiting messages fail after `max_retries` retries, as a send to
/// that cluster would, instead of waiting out the delivery timeout. Anything else is final, and
/// so is every failure once a close gave up on the messages (`abandoned`).
pub fn after_init_failure(
    e: &Error,
    unanswered: u32,
    max_retries: Option<u32>,
    messages_waiting: bool,
    abandoned: bool,
) -> InitVerdict {
    if !e.is_retriable() || abandoned {
        InitVerdict::Fail
    } else if !messages_waiting {
        InitVerdict::Stop
    } else if !answered(e) && max_retries.is_some_and(|retries| unanswered > retries) {
        InitVerdict::GiveUp
    } else {
        InitVerdict::Retry
    }
}

/// Whether a broker answered the request that failed with `e` (with an error code), as opposed
/// to no broker being reached or answering in time.
pub fn answered(e: &Error) -> bool {
    e.code().is_some()
}

/// How loudly a retried InitProducerId failure is logged: a broker answers
/// `COORDINATOR_LOAD_IN_PROGRESS` until it has its first block of ids, which takes it a few
/// milliseconds after a start, so the first few such answers are routine (info); anything else,
/// or a broker that stays busy, is a warning.
pub fn init_retry_level(e: &Error, failures: u32) -> Level {
    if e.code() == Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS) && failures <= 3 {
        Level::Info
    } else {
        Level::Warn
    }
}

/// The error messages fail with when the broker refuses an idempotent producer id.
pub fn refused(code: ErrorCode) -> Error {
    let hint = if code == ErrorCode::CLUSTER_AUTHORIZATION_FAILED {
        ": the principal needs the IDEMPOTENT_WRITE permission on the cluster (or WRITE on a \
         topic); pass idempotent: false to produce without idempotence"
    } else {
        ""
    };
    Error::kafka(
        code,
        format!("the broker refused an idempotent producer id{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_to_zero_after_the_largest_i32() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(next_sequence(i32::MAX - 1, 2), 0);
        assert_eq!(next_sequence(i32::MAX, 10), 9);
    }

    #[test]
    fn sequence_errors_resend_after_a_gap_and_bump_at_the_expected_sequence() {
        use SequenceVerdict::*;
        let ooo = ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
        assert_eq!(
            verdict(ooo, 20, 10),
            ResendInOrder,
            "an earlier batch failed"
        );
        assert_eq!(verdict(ooo, 10, 10), Bump, "the broker lost our sequence");
        assert_eq!(verdict(ErrorCode::UNKNOWN_PRODUCER_ID, 0, 0), Bump);
        assert_eq!(verdict(ErrorCode::UNKNOWN_PRODUCER_ID, 7, 0), ResendInOrder);
        assert_eq!(verdict(ErrorCode::INVALID_PRODUCER_EPOCH, 7, 0), Bump);
        assert_eq!(
            verdict(ErrorCode::DUPLICATE_SEQUENCE_NUMBER, 3, 9),
            Duplicate
        );
        assert_eq!(verdict(ErrorCode::NOT_LEADER_OR_FOLLOWER, 3, 3), Other);
    }

    #[test]
    fn a_bump_raises_the_epoch_and_at_the_top_asks_for_a_fresh_id() {
        let mut idem = Idempotence::new(true);
        assert!(idem.needs_producer_id());
        assert!(!idem.ready());
        idem.identity = Some(ProducerIdentity { id: 9, epoch: 3 });
        assert!(idem.ready());
        assert!(!idem.bump(), "no bump requested");
        idem.bump_requested = true;
        assert!(!idem.ready(), "nothing is drained while a bump waits");
        assert!(idem.bump());
        assert_eq!(idem.identity, Some(ProducerIdentity { id: 9, epoch: 4 }));
        idem.identity = Some(ProducerIdentity {
            id: 9,
            epoch: i16::MAX,
        });
        idem.bump_requested = true;
        assert!(idem.bump());
        assert_eq!(idem.identity, None);
        assert!(idem.needs_producer_id());
    }

    #[test]
    fn a_busy_broker_is_asked_again_while_messages_wait_whatever_their_retry_count() {
        use InitVerdict::*;
        for code in [
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::CONCURRENT_TRANSACTIONS,
        ] {
            let e = Error::kafka(code, "InitProducerId");
            assert_eq!(
                after_init_failure(&e, 1, Some(0), true, false),
                Retry,
                "{code:?}"
            );
            assert_eq!(
                after_init_failure(&e, 50, Some(2), true, false),
                Retry,
                "{code:?}"
            );
            assert_eq!(
                after_init_failure(&e, 1, Some(0), false, false),
                Stop,
                "{code:?}"
            );
            assert_eq!(
                after_init_failure(&e, 1, Some(0), true, true),
                Fail,
                "{code:?}"
            );
        }
        let refused = Error::kafka(ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "InitProducerId");
        assert_eq!(after_init_failure(&refused, 1, None, true, false), Fail);
        assert_eq!(after_init_failure(&refused, 1, None, false, false), Fail);
    }

    #[test]
    fn an_unreachable_cluster_counts_against_the_retries_as_a_send_would() {
        use InitVerdict::*;
        let unreachable = Error::NoBrokers("could not connect to any broker".into());
        assert_eq!(
            after_init_failure(&unreachable, 1, Some(0), true, false),
            GiveUp
        );
        assert_eq!(
            after_init_failure(&unreachable, 2, Some(2), true, false),
            Retry
        );
        assert_eq!(
            after_init_failure(&unreachable, 3, Some(2), true, false),
            GiveUp
        );
        assert_eq!(
            after_init_failure(&unreachable, 99, None, true, false),
            Retry
        );
        assert_eq!(
            after_init_failure(&unreachable, 1, Some(0), false, false),
            Stop
        );
    }

    #[test]
    fn a_starting_broker_is_routine_for_a_few_attempts_and_then_a_warning() {
        let busy = Error::kafka(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, "InitProducerId");
        assert_eq!(init_retry_level(&busy, 1), Level::Info);
        assert_eq!(init_retry_level(&busy, 3), Level::Info);
        assert_eq!(init_retry_level(&busy, 4), Level::Warn);
        let moved = Error::kafka(ErrorCode::NOT_COORDINATOR, "InitProducerId");
        assert_eq!(init_retry_level(&moved, 1), Level::Warn);
        let unreachable = Error::NoBrokers("could not connect to any broker".into());
        assert_eq!(init_retry_level(&unreachable, 1), Level::Warn);
    }

    #[test]
    fn messages_waiting_for_an_id_are_told_the_last_failure() {
        let mut idem = Idempotence::new(true);
        assert!(idem.waiting_for_id().is_none(), "no attempt failed yet");
        idem.init_failure = Some(Error::kafka(
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            "InitProducerId",
        ));
        let why = idem.waiting_for_id().map(|e| e.to_string());
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("COORDINATOR_LOAD_IN_PROGRESS")),
            "{why:?}"
        );
        idem.identity = Some(ProducerIdentity { id: 1, epoch: 0 });
        assert!(idem.waiting_for_id().is_none(), "the id came");
    }

    #[test]
    fn the_refusal_names_the_permission_and_the_way_out() {
        let e = refused(ErrorCode::CLUSTER_AUTHORIZATION_FAILED).to_string();
        assert!(
            e.contains("IDEMPOTENT_WRITE") && e.contains("idempotent: false"),
            "{e}"
        );
        let disabled = Idempotence::new(false);
        assert!(disabled.ready() && !disabled.needs_producer_id());
    }
}
