//! Items the generated code names as `::flow_runtime::__private::...`. Not a public API:
//! anything here may change in any release.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::OnceLock;

#[cfg(feature = "registry")]
pub use crate::registry::{DurableRegistration, NodeRegistration, WorkflowRegistration};
pub use core;
#[cfg(feature = "registry")]
pub use inventory;

/// Adds a node or workflow to the registry (`flow_runtime::registry`): an `inventory`
/// submission with the `registry` feature, nothing without it.
#[cfg(feature = "registry")]
#[doc(hidden)]
#[macro_export]
macro_rules! __flow_register {
    ($($item:tt)*) => { $crate::__private::inventory::submit! { $($item)* } };
}

/// Adds a node or workflow to the registry: nothing, without the `registry` feature.
#[cfg(not(feature = "registry"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __flow_register {
    ($($item:tt)*) => {};
}

pub use crate::__flow_register as register;

use crate::{BoxError, Error, NodeInfo, WorkflowGraph};

/// The error types a node may return: anything that converts into [`BoxError`], which
/// covers every `E: std::error::Error + Send + Sync + 'static`, and also `String`,
/// `&'static str` and error types such as `anyhow::Error`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of a node",
    label = "this node's error type does not convert into `Box<dyn std::error::Error + Send + Sync>`",
    note = "a node returning `Result<T, E>` needs `E: std::error::Error + Send + Sync + 'static` (or another type that converts into `Box<dyn Error + Send + Sync>`, such as `String` or `anyhow::Error`)"
)]
pub trait IntoNodeError {
    /// Boxes the error.
    fn into_node_error(self) -> BoxError;
}

impl<E: Into<BoxError>> IntoNodeError for E {
    #[inline]
    fn into_node_error(self) -> BoxError {
        self.into()
    }
}

/// Implemented by the `Result` types a fallible node may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result` whose error a node can report",
    label = "a node whose return type is named `Result` must return `std::result::Result<T, E>` with `E: std::error::Error + Send + Sync + 'static`",
    note = "a node returning `Result<T, E>` needs `E: std::error::Error + Send + Sync + 'static` (or another type that converts into `Box<dyn Error + Send + Sync>`, such as `String` or `anyhow::Error`)"
)]
pub trait Fallible {
    /// The node's error type.
    type Error;
}

impl<T, E: IntoNodeError> Fallible for Result<T, E> {
    type Error = E;
}

/// Compile-time check that a node's return type is a `Result` it can report.
pub const fn assert_fallible<R: Fallible>() {}

pin_project_lite::pin_project! {
    /// One future of a generated join, and then its output.
    #[project = MaybeProj]
    #[project_replace = MaybeOwn]
    pub enum Maybe<F: Future> {
        Running { #[pin] future: F },
        Done { value: F::Output },
        Taken,
    }
}

impl<F: Future> Maybe<F> {
    /// Wraps a future that is not polled yet.
    #[inline(always)]
    pub fn new(future: F) -> Self {
        Maybe::Running { future }
    }

    /// Polls the future if it is still running. Sets `*pending` when it is not finished;
    /// returns whether it finished in this call.
    #[inline(always)]
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>, pending: &mut bool) -> bool {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(value) => {
                    self.project_replace(Maybe::Done { value });
                    return true;
                }
            }
        }
        false
    }

    /// Moves the output out once the join has finished.
    #[inline(always)]
    pub fn take(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(Maybe::Taken) {
            MaybeOwn::Done { value } => value,
            _ => unreachable!("flow: a join branch was taken before it finished"),
        }
    }
}

impl<F, T> Maybe<F>
where
    F: Future<Output = Result<T, Error>>,
{
    /// Polls a fallible future if it is still running. Sets `*pending` when it is not
    /// finished; returns whether it finished in this call. Its error is kept in `*failed`
    /// (see [`Failed`]), and the join ends at the end of the pass (fail-fast).
    #[inline(always)]
    pub fn poll_branch(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pending: &mut bool,
        failed: &mut Failed,
    ) -> bool {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(Ok(value)) => {
                    self.project_replace(Maybe::Done { value: Ok(value) });
                    return true;
                }
                Poll::Ready(Err(e)) => {
                    self.project_replace(Maybe::Taken);
                    failed.fail(e);
                }
            }
        }
        false
    }

    /// Moves the output of a fallible future out once the join has finished without error.
    #[inline(always)]
    pub fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take() {
            Ok(value) => value,
            Err(_) => unreachable!("flow: a failed join branch was taken"),
        }
    }
}

impl<F, T> Maybe<F>
where
    F: Future<Output = Result<T, Error>>,
{
    /// Polls a member of a race if it is still running: its value if it succeeded in this
    /// call. A failure is kept for the race's error; sets `*pending` while it runs.
    #[inline(always)]
    pub fn poll_race(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pending: &mut bool,
    ) -> Option<T> {
        if let MaybeProj::Running { future } = self.as_mut().project() {
            match future.poll(cx) {
                Poll::Pending => *pending = true,
                Poll::Ready(Ok(value)) => {
                    self.project_replace(Maybe::Taken);
                    return Some(value);
                }
                Poll::Ready(Err(e)) => {
                    self.project_replace(Maybe::Done { value: Err(e) });
                }
            }
        }
        None
    }

    /// The error of a race member once every member failed.
    #[inline]
    pub fn take_err(self: Pin<&mut Self>) -> Error {
        match self.take() {
            Err(e) => e,
            Ok(_) => unreachable!("flow: a race member that succeeded was read as failed"),
        }
    }
}

/// The failures one pass of a join saw: the join polls every branch once per pass, and
/// ends with the failure of the node listed first among those that failed in that pass
/// (the others go to its [`Error::others`]).
#[derive(Default)]
pub struct Failed(Option<Error>);

impl Failed {
    /// No failure yet.
    #[inline(always)]
    pub const fn new() -> Self {
        Failed(None)
    }

    /// Keeps a branch's failure.
    #[cold]
    #[inline(never)]
    pub fn fail(&mut self, error: Error) {
        self.0 = Some(match self.0.take() {
            None => error,
            Some(first) => first_listed(first, error),
        });
    }

    /// The pass's failure, if there was one.
    #[inline(always)]
    pub fn take(&mut self) -> Option<Error> {
        self.0.take()
    }
}

/// Of two failures at the same instant, the one listed first, the other in its `others`.
fn first_listed(a: Error, b: Error) -> Error {
    let (mut first, second) = if b.rank() < a.rank() { (b, a) } else { (a, b) };
    first.push_other(second);
    first
}

/// Ranks a node's result for the join (its error is the failure of the node listed at
/// `rank` in the workflow).
#[inline(always)]
pub fn rank<T>(result: Result<T, Error>, rank: u32) -> Result<T, Error> {
    match result {
        Ok(value) => Ok(value),
        Err(error) => Err(ranked(error, rank)),
    }
}

#[cold]
#[inline(never)]
fn ranked(mut error: Error, rank: u32) -> Error {
    error.set_rank(rank);
    error
}

/// The error of a race whose members all failed: `causes` in list order.
#[cold]
pub fn race_failed(workflow: &'static str, race: &'static str, causes: Vec<Error>) -> Error {
    Error::race_failed(workflow, race, causes)
}

/// The values of one type that `K` nodes provide, gathered in list order for consumers
/// taking `&[T]`. Each producer puts its value (or `None` when it was skipped); the first
/// consumer moves them into one `Vec`, which every consumer then borrows.
pub struct Collect<T, const K: usize> {
    values: [std::sync::Mutex<Option<T>>; K],
    stored: std::sync::atomic::AtomicUsize,
    gathered: OnceLock<Vec<T>>,
}

impl<T, const K: usize> Collect<T, K> {
    /// No value yet.
    pub fn new() -> Self {
        Collect {
            values: [const { std::sync::Mutex::new(None) }; K],
            stored: std::sync::atomic::AtomicUsize::new(0),
            gathered: OnceLock::new(),
        }
    }

    /// Stores producer `index`'s value (`None`: it was skipped).
    pub fn put(&self, index: usize, value: Option<T>) {
        *self.values[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
        self.stored
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Waits until every producer stored its value (inside a dataflow join, see
    /// [`Slot::wait`]).
    pub fn wait_all(&self) -> impl Future<Output = ()> + '_ {
        core::future::poll_fn(move |_| {
            if self.stored.load(std::sync::atomic::Ordering::Acquire) == K {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// The values, in list order, once every producer ran.
    pub fn values(&self) -> &Vec<T> {
        self.gathered.get_or_init(|| {
            self.values
                .iter()
                .filter_map(|v| {
                    v.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take()
                })
                .collect()
        })
    }
}

impl<T, const K: usize> Default for Collect<T, K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The output of a node that nodes of the same dataflow join wait for.
///
/// Every future of a dataflow join runs in the join's own task, and the join polls all of
/// them again whenever one finishes, so waiting needs no waker.
pub struct Slot<T>(OnceLock<T>);

impl<T> Slot<T> {
    /// An empty slot.
    #[inline(always)]
    pub const fn new() -> Self {
        Slot(OnceLock::new())
    }

    /// Stores the node's output.
    #[inline(always)]
    pub fn set(&self, value: T) {
        if self.0.set(value).is_err() {
            unreachable!("flow: a node's output was stored twice");
        }
    }

    /// Waits until the output is stored.
    #[inline(always)]
    pub fn wait(&self) -> impl Future<Output = &T> + '_ {
        core::future::poll_fn(move |_| match self.0.get() {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        })
    }

    /// The output, if it is stored.
    #[inline(always)]
    pub fn get(&self) -> Option<&T> {
        self.0.get()
    }

    /// Moves the output out, if it is stored.
    #[inline(always)]
    pub fn take(&mut self) -> Option<T> {
        self.0.take()
    }

    /// Moves the output out once the join has finished.
    #[inline(always)]
    pub fn into_value(self) -> T {
        match self.0.into_inner() {
            Some(value) => value,
            None => unreachable!("flow: a node's output was read before it was stored"),
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a node providing the workflow's output may return when the output may be
/// missing: `Option<T>`, or `Result<Option<T>, Error>` under `continue_on_error`.
pub trait Present {
    /// Whether the output is missing (the node was skipped or returned `None`).
    fn missing(&self) -> bool;
}

impl<T> Present for Option<T> {
    #[inline(always)]
    fn missing(&self) -> bool {
        self.is_none()
    }
}

impl<T> Present for Result<Option<T>, Error> {
    #[inline(always)]
    fn missing(&self) -> bool {
        matches!(self, Ok(None))
    }
}

/// Ends the run as soon as the workflow's output is known to be missing: the node that
/// provides it (listed at `rank`) was skipped or returned `None`.
#[inline(always)]
pub fn require<V: Present>(
    value: V,
    workflow: &'static str,
    node: &'static NodeInfo,
    because: &'static [&'static str],
    rank: u32,
) -> Result<V, Error> {
    if value.missing() {
        return Err(ranked(Error::output_skipped(workflow, node, because), rank));
    }
    Ok(value)
}

/// What a workflow input giving a map's concurrency (`map(node, concurrency = input)`) may
/// be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a map's concurrency",
    label = "a map's concurrency from an input is a `NonZeroUsize` (or an `Option<NonZeroUsize>`, `None` for no limit)",
    note = "a concurrency of 0 would run no element: take the input as `std::num::NonZeroUsize`"
)]
pub trait MapLimit {
    /// The concurrency, `None` for no limit.
    fn limit(&self) -> Option<usize>;
}

impl MapLimit for std::num::NonZeroUsize {
    fn limit(&self) -> Option<usize> {
        Some(self.get())
    }
}

impl MapLimit for Option<std::num::NonZeroUsize> {
    fn limit(&self) -> Option<usize> {
        self.map(std::num::NonZeroUsize::get)
    }
}

/// The concurrency a map takes from a workflow input.
#[inline(always)]
pub fn map_limit<L: MapLimit>(input: &L) -> Option<usize> {
    input.limit()
}

/// [`require`] for an output that is an element of its node's tuple: `missing` tells.
pub fn require_by<V>(
    value: V,
    missing: impl FnOnce(&V) -> bool,
    workflow: &'static str,
    node: &'static NodeInfo,
    because: &'static [&'static str],
    rank: u32,
) -> Result<V, Error> {
    if missing(&value) {
        return Err(ranked(Error::output_skipped(workflow, node, because), rank));
    }
    Ok(value)
}

/// The workflow's output from its node's `Option`: a missing one already ended the run
/// (see [`require`]).
#[inline(always)]
pub fn produced<T>(value: Result<Option<T>, Error>) -> Result<T, Error> {
    match value {
        Ok(Some(v)) => Ok(v),
        Ok(None) => unreachable!("flow: a missing output ends the run when it is known"),
        Err(e) => Err(e),
    }
}

pub use flow_macros::__workflow as workflow;

pub use crate::exec::*;
pub use crate::map::{map, map_all};

// ---- durable runs ----

pub use crate::exec::ResumeWith;
pub use crate::journal::{
    Begin, Codec, Element as RecordElement, Fallible as RecordResult, Journal, Journaled,
    RaceClaim, Tolerated as RecordTolerated, Value as RecordValue, codec, codec_option,
};
/// The codecs of tuple outputs with `Option` elements.
pub mod parts {
    pub use crate::journal::{
        Opt, Plain, codec_option_parts1, codec_option_parts2, codec_option_parts3,
        codec_option_parts4, codec_option_parts5, codec_option_parts6, codec_option_parts7,
        codec_option_parts8, codec_option_parts9, codec_option_parts10, codec_option_parts11,
        codec_option_parts12, codec_parts1, codec_parts2, codec_parts3, codec_parts4, codec_parts5,
        codec_parts6, codec_parts7, codec_parts8, codec_parts9, codec_parts10, codec_parts11,
        codec_parts12,
    };
}

/// What a `durable` workflow records: its inputs and every node's output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded by a `durable` workflow",
    label = "a `durable` workflow records this value: `{Self}` must implement `serde::Serialize` and `serde::Deserialize`",
    note = "derive them on the type: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait Durable: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> Durable for T {}

/// A node's future in a durable workflow: read back from the run's journal, or run and
/// recorded (see [`Journaled`]); in a run a backend keeps, asked of its driver with the
/// inputs `args` encodes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn journaled<'r, 'a, M, G: crate::exec::Gate, A, F: Future>(
    run: &'r crate::exec::Run<'a, G>,
    workflow: &'static str,
    node: &'static NodeInfo,
    element: Option<usize>,
    codec: Codec<M::Value>,
    args: A,
    future: F,
) -> Journaled<'r, 'a, M, A, F>
where
    M: crate::journal::Mode<F::Output>,
    A: FnOnce() -> Vec<Result<String, serde_json::Error>>,
{
    crate::journal::journaled(run.journal(), workflow, node, element, codec, args, future)
}

// ---- a node's inputs, for a backend that runs it elsewhere ----

pub use crate::store::backend;

/// Input `index` of a durable workflow, as JSON.
pub fn input_json<T>(
    codec: Codec<T>,
    value: &T,
    index: usize,
    workflow: &'static str,
) -> Result<String, Error> {
    codec.encode(value).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// Input `index` of a driven run, from the JSON its backend holds.
pub fn driven_input<T>(
    codec: Codec<T>,
    inputs: &[String],
    index: usize,
    workflow: &'static str,
) -> Result<T, Error> {
    let text = inputs.get(index).map_or("null", String::as_str);
    codec.decode(text).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

pub use crate::store::backend::{capture, compensation_outcome};

/// A compensation asked of a node that has none.
pub fn no_compensation(workflow: &'static str, node: &'static NodeInfo) -> Error {
    Error::undecodable(
        workflow,
        Some(node),
        &format!("a compensation of node `{}`", node.name()),
        "a compensated node",
        "the node has no compensation".to_owned(),
    )
}

// How a node's inputs travel to a worker. Encoding needs no bound where it is written: a
// value's encoder is picked by autoref (serde's when the type is serializable, else one that
// fails at run time), since a type that is not is already a compile error at its codec.
// Decoding goes through the producer's codec, made at the same token as the body's, so a
// type that cannot be recorded is one error there, not one more per consumer.

/// A value to encode as JSON (`&T`, `&Vec<T>`, `&[T]`).
pub struct Enc<'a, T: ?Sized>(pub &'a T);
/// An `Option<&T>` input: `null` or `[value]`.
pub struct EncOpt<'a, T>(pub Option<&'a T>);
/// A `Result<&T, &NodeError>` input: `{"ok": value}` or `{"err": error}`.
pub struct EncRes<'a, T>(pub Result<&'a T, &'a Error>);
/// An `Option<Result<&T, &NodeError>>` input: `null` or `[result]`, the result as
/// [`EncRes`] writes it.
pub struct EncOptRes<'a, T>(pub Option<Result<&'a T, &'a Error>>);
/// A `&[Result<T, NodeError>]` input (a tolerant map's output), each as [`EncRes`].
pub struct EncResSlice<'a, T>(pub &'a [Result<T, Error>]);

/// Encodes by serde (picked when the type is serializable).
pub trait EncodeBySerde {
    /// The JSON.
    fn flow_json(&self) -> Result<String, serde_json::Error>;
}

/// The fallback of [`EncodeBySerde`], for a type that is not serializable.
pub trait EncodeNot {
    /// An error.
    fn flow_json(&self) -> Result<String, serde_json::Error>;
}

fn not_serializable() -> serde_json::Error {
    <serde_json::Error as serde::ser::Error>::custom("the value's type is not serializable")
}

impl<T: serde::Serialize + ?Sized> EncodeBySerde for &Enc<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self.0)
    }
}
impl<T: ?Sized> EncodeNot for Enc<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        Err(not_serializable())
    }
}
impl<T: serde::Serialize> EncodeBySerde for &EncOpt<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        match self.0 {
            None => Ok("null".to_owned()),
            Some(v) => serde_json::to_string(&(v,)),
        }
    }
}
impl<T> EncodeNot for EncOpt<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        Err(not_serializable())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireResult<T> {
    Ok(T),
    Err(Box<crate::journal::RecordedError>),
}

fn wire_result<'a, T: serde::Serialize>(value: Result<&'a T, &Error>) -> WireResult<&'a T> {
    match value {
        Ok(v) => WireResult::Ok(v),
        Err(e) => WireResult::Err(Box::new(crate::journal::RecordedError::of(e))),
    }
}

impl<T: serde::Serialize> EncodeBySerde for &EncRes<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&wire_result(self.0))
    }
}
impl<T> EncodeNot for EncRes<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        Err(not_serializable())
    }
}
impl<T: serde::Serialize> EncodeBySerde for &EncOptRes<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        match self.0 {
            None => Ok("null".to_owned()),
            Some(r) => serde_json::to_string(&(wire_result(r),)),
        }
    }
}
impl<T> EncodeNot for EncOptRes<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        Err(not_serializable())
    }
}
impl<T: serde::Serialize> EncodeBySerde for &EncResSlice<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        let all: Vec<WireResult<&T>> = self.0.iter().map(|r| wire_result(r.as_ref())).collect();
        serde_json::to_string(&all)
    }
}
impl<T> EncodeNot for EncResSlice<'_, T> {
    fn flow_json(&self) -> Result<String, serde_json::Error> {
        Err(not_serializable())
    }
}

/// The type of a node's argument, as a value: what [`tags`] gives, for the decoders
/// (picked by autoref, as the encoders are).
pub struct Tag<T>(core::marker::PhantomData<fn() -> T>);

impl<T> Tag<T> {
    /// The tag of `T`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Tag(core::marker::PhantomData)
    }
}

/// The error of a workflow's output that could not be encoded or decoded.
pub fn output_error(workflow: &'static str, message: String) -> Error {
    Error::undecodable(
        workflow,
        None,
        "the workflow's output",
        "its declared type",
        message,
    )
}

/// The argument types `A` (a tuple) of a closure that makes a node's future.
pub trait ArgsOf<A> {}

/// The tags of a tuple of argument types.
pub trait Tags {
    /// `(Tag<A0>, Tag<A1>, ...)`.
    type Tags;
    /// The tags.
    fn tags() -> Self::Tags;
}

macro_rules! args_of {
    ($($a:ident),*) => {
        impl<F, R, $($a),*> ArgsOf<($($a,)*)> for F where F: FnOnce($($a),*) -> R {}
        impl<$($a),*> Tags for ($($a,)*) {
            type Tags = ($(Tag<$a>,)*);
            #[allow(clippy::unused_unit)]
            fn tags() -> Self::Tags {
                ($(Tag::<$a>(core::marker::PhantomData),)*)
            }
        }
    };
}
args_of!();
args_of!(A0);
args_of!(A0, A1);
args_of!(A0, A1, A2);
args_of!(A0, A1, A2, A3);
args_of!(A0, A1, A2, A3, A4);
args_of!(A0, A1, A2, A3, A4, A5);
args_of!(A0, A1, A2, A3, A4, A5, A6);
args_of!(A0, A1, A2, A3, A4, A5, A6, A7);
args_of!(A0, A1, A2, A3, A4, A5, A6, A7, A8);
args_of!(A0, A1, A2, A3, A4, A5, A6, A7, A8, A9);
args_of!(A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
args_of!(A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);

/// The tags of the arguments of `make`, a closure that makes a node's future.
pub fn tags<F: ArgsOf<A>, A: Tags>(_make: &F) -> A::Tags {
    A::tags()
}

fn not_deserializable() -> String {
    "the value's type is not deserializable".to_owned()
}

fn unwrap_one(text: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(mut items)) if items.len() == 1 => {
            Ok(items.remove(0).to_string())
        }
        Ok(_) => Err("expected `[value]`".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn read_wire_result(
    text: &str,
    graph: &'static WorkflowGraph,
) -> Result<Result<String, Error>, String> {
    match serde_json::from_str::<WireResult<serde_json::Value>>(text) {
        Ok(WireResult::Ok(v)) => Ok(Ok(v.to_string())),
        Ok(WireResult::Err(e)) => Ok(Err(e.restore(graph))),
        Err(e) => Err(e.to_string()),
    }
}

macro_rules! decoder {
    ($serde:ident, $not:ident, $method:ident, $tag:ty, $out:ty, |$text:ident, $graph:ident| $body:expr) => {
        /// Decodes an argument (picked by autoref when its type is deserializable).
        pub trait $serde {
            /// The decoded argument.
            type Out;
            /// Decodes `text`.
            fn $method(
                &self,
                text: &str,
                graph: &'static WorkflowGraph,
            ) -> Result<Self::Out, String>;
        }
        /// The fallback of the decoder above, for a type that is not deserializable.
        pub trait $not {
            /// The decoded argument.
            type Out;
            /// An error.
            fn $method(
                &self,
                text: &str,
                graph: &'static WorkflowGraph,
            ) -> Result<Self::Out, String>;
        }
        impl<'a, T: serde::de::DeserializeOwned> $serde for &Tag<$tag> {
            type Out = $out;
            #[allow(unused_variables)]
            fn $method(&self, $text: &str, $graph: &'static WorkflowGraph) -> Result<$out, String> {
                $body
            }
        }
        impl<'a, T> $not for Tag<$tag> {
            type Out = $out;
            fn $method(&self, _: &str, _: &'static WorkflowGraph) -> Result<$out, String> {
                Err(not_deserializable())
            }
        }
    };
}

decoder!(
    DecodeRef,
    DecodeRefNot,
    flow_decode_ref,
    &'a T,
    T,
    |text, graph| serde_json::from_str(text).map_err(|e| e.to_string())
);
decoder!(
    DecodeOpt,
    DecodeOptNot,
    flow_decode_opt,
    Option<&'a T>,
    Option<T>,
    |text, graph| {
        if text.trim() == "null" {
            return Ok(None);
        }
        serde_json::from_str(&unwrap_one(text)?)
            .map(Some)
            .map_err(|e| e.to_string())
    }
);
decoder!(DecodeRes, DecodeResNot, flow_decode_res, Result<&'a T, &'a Error>, Result<T, Error>, |text, graph| {
    match read_wire_result(text, graph)? {
        Ok(json) => serde_json::from_str(&json).map(Ok).map_err(|e| e.to_string()),
        Err(e) => Ok(Err(e)),
    }
});
decoder!(
    DecodeOptRes,
    DecodeOptResNot,
    flow_decode_opt_res,
    Option<Result<&'a T, &'a Error>>,
    Option<Result<T, Error>>,
    |text, graph| {
        if text.trim() == "null" {
            return Ok(None);
        }
        match read_wire_result(&unwrap_one(text)?, graph)? {
            Ok(json) => serde_json::from_str(&json)
                .map(|v| Some(Ok(v)))
                .map_err(|e| e.to_string()),
            Err(e) => Ok(Some(Err(e))),
        }
    }
);
decoder!(
    DecodeSlice,
    DecodeSliceNot,
    flow_decode_slice,
    &'a [T],
    Vec<T>,
    |text, graph| serde_json::from_str(text).map_err(|e| e.to_string())
);
decoder!(
    DecodeResSlice,
    DecodeResSliceNot,
    flow_decode_res_slice,
    &'a [Result<T, Error>],
    Vec<Result<T, Error>>,
    |text, graph| {
        let values: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        values
            .iter()
            .map(|v| match read_wire_result(&v.to_string(), graph)? {
                Ok(json) => serde_json::from_str(&json)
                    .map(Ok)
                    .map_err(|e| e.to_string()),
                Err(e) => Ok(Err(e)),
            })
            .collect()
    }
);

/// Argument `k` of a call, as text.
pub fn arg<'a>(
    args: &'a [String],
    k: usize,
    workflow: &'static str,
    node: &'static NodeInfo,
) -> Result<&'a str, Error> {
    args.get(k).map(String::as_str).ok_or_else(|| {
        Error::undecodable(
            workflow,
            Some(node),
            &format!("input {k} of node `{}`", node.name()),
            node.inputs().get(k).map_or("?", |p| p.ty()),
            format!("the call has {} inputs", args.len()),
        )
    })
}

/// The error of argument `k` that did not decode.
pub fn arg_error(workflow: &'static str, node: &'static NodeInfo, k: usize, e: String) -> Error {
    Error::undecodable(
        workflow,
        Some(node),
        &format!("input {k} of node `{}`", node.name()),
        node.inputs().get(k).map_or("?", |p| p.ty()),
        e,
    )
}

/// The completion stamp of a kept node of a durable workflow: its place in the journal
/// (across resumes) when the run has one.
#[inline]
pub fn stamp<G: crate::exec::Gate>(
    run: &crate::exec::Run<'_, G>,
    stamps: &crate::exec::Stamps,
) -> u32 {
    match run.journal() {
        Some(journal) => crate::journal::last_stamp(journal),
        None => stamps.next(),
    }
}

/// A durable workflow's input, as its run records it.
pub fn durable_input<T>(codec: Codec<T>, value: &T) -> Result<String, serde_json::Error> {
    codec.encode(value)
}

/// Input `index` of a run, as its store recorded it.
pub fn recorded_input<T>(
    codec: Codec<T>,
    inputs: &[serde_json::Value],
    index: usize,
    workflow: &'static str,
) -> Result<T, Error> {
    let value = inputs
        .get(index)
        .map_or_else(|| "null".to_owned(), |v| v.to_string());
    codec.decode(&value).map_err(|e| {
        Error::undecodable(
            workflow,
            None,
            &format!("recorded input {index}"),
            std::any::type_name::<T>(),
            e.to_string(),
        )
    })
}

/// The inputs the store recorded for the run `run`'s options name.
pub fn recorded_inputs(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    graph: &'static crate::WorkflowGraph,
) -> Result<Vec<serde_json::Value>, Error> {
    let wf = graph.name();
    let Some(journal) = run.journal() else {
        return Err(Error::no_store(wf));
    };
    journal.recorded_inputs(&run.id_text(), graph)
}

/// Begins a durable run: `Run` to run the body, `Done` with the recorded result of a run
/// that had finished. `inputs` are the encoded inputs.
pub fn begin<O>(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    graph: &'static crate::WorkflowGraph,
    inputs: Vec<Result<String, serde_json::Error>>,
    codec: Codec<O>,
) -> Result<Begin<O>, Error> {
    let wf = graph.name();
    let Some(journal) = run.journal() else {
        return Ok(Begin::Run);
    };
    // A JSON array of the encoded inputs, in declaration order.
    let mut values = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        values.push(input.map_err(|e| {
            Error::undecodable(
                wf,
                None,
                &format!("input {i}"),
                "the workflow's input",
                e.to_string(),
            )
        })?);
    }
    let inputs = format!("[{}]", values.join(","));
    journal.begin(&run.id_text(), graph, &inputs, &codec)
}

/// Records a durable run's end (when it has a journal).
pub fn end<T>(
    run: &crate::exec::Run<'_, crate::exec::Limits>,
    result: Result<T, Error>,
    codec: Codec<T>,
) -> Result<T, Error> {
    match run.journal() {
        Some(journal) => match journal.end(&result, &codec) {
            Ok(()) => result,
            Err(e) => Err(e),
        },
        None => result,
    }
}

/// The error of a run given a store by a workflow that is not durable.
#[inline]
pub fn not_durable<G: crate::exec::Gate>(
    run: &crate::exec::Run<'_, G>,
    workflow: &'static str,
) -> Option<Error> {
    run.journal().map(|_| Error::not_durable(workflow))
}
