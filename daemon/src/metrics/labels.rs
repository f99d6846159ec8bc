//! Label sets of the metric families, and the closed sets of label values
//! that are resolved into arrays up front (so counting needs no lookup).

use prometheus_client::encoding::EncodeLabelSet;

/// Declares a closed label value set: a `Copy` enum usable as an array
/// index, its `ALL` list in index order and its Prometheus spelling.
macro_rules! label_values {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in index order.
            pub const ALL: [$name; [$($name::$variant),+].len()] = [$($name::$variant),+];

            /// The label value as exported.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

label_values! {
    /// Why a session ended, as a small set a dashboard can group by (the
    /// full reason is in the journal and the `session_closed` event).
    EndReason {
        Closed => "closed",
        Draining => "draining",
        DrainTimeout => "drain_timeout",
        Shutdown => "shutdown",
        ModelClosed => "model_closed",
        Error => "error",
    }
}

impl EndReason {
    /// The class of a session's free-form end reason.
    pub fn classify(reason: &str) -> EndReason {
        match reason {
            "closed on request" => EndReason::Closed,
            crate::drain::DRAINING => EndReason::Draining,
            crate::drain::DRAIN_TIMEOUT => EndReason::DrainTimeout,
            crate::drain::SHUTDOWN => EndReason::Shutdown,
            "model connection closed" | "the model connection ended" => EndReason::ModelClosed,
            _ => EndReason::Error,
        }
    }
}

label_values! {
    /// How a tool call was answered.
    ToolOutcomeLabel {
        Completed => "completed",
        Failed => "failed",
        Rejected => "rejected",
    }
}

label_values! {
    /// The phases of a tool call that are timed.
    Phase {
        Queue => "queue",
        Instantiate => "instantiate",
        Run => "run",
    }
}

label_values! {
    /// Who decided an approval.
    Decider {
        Person => "person",
        Token => "token",
        Origin => "origin",
        Timeout => "timeout",
        Policy => "policy",
    }
}

impl Decider {
    /// The kind of `who`.
    pub fn of(who: &agentd_api::Identity) -> Decider {
        match who {
            agentd_api::Identity::Uid { .. } => Decider::Person,
            agentd_api::Identity::Token(_) => Decider::Token,
            agentd_api::Identity::Origin(_) => Decider::Origin,
            agentd_api::Identity::Timeout => Decider::Timeout,
            agentd_api::Identity::Policy => Decider::Policy,
        }
    }
}

label_values! {
    /// Where a call came in.
    Channel {
        Sip => "sip",
        Webrtc => "webrtc",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EndLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ToolCallLabels {
    pub plugin: String,
    pub tool: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PhaseLabels {
    pub plugin: String,
    pub tool: String,
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DeciderLabels {
    pub decider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct GuardrailLabels {
    pub direction: String,
    pub guardrail: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CallLabels {
    pub channel: &'static str,
    pub result: &'static str,
}
