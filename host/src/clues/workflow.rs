//! The triage workflow: statuses, the actions between them, and the fixed dismissal reasons.
//!
//! ```text
//! new → assigned → verifying → confirmed → case_filed | suggestion_issued | transferred
//!   └──────┴────────────┴───────────┴──→ dismissed (with a reason)
//! ```

use serde::Serialize;

/// Where a clue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Emitted or reported, not yet with anyone.
    New,
    /// With a prosecutor.
    Assigned,
    /// Being verified by hand.
    Verifying,
    /// Verified as a real problem.
    Confirmed,
    /// Turned into a case.
    CaseFiled,
    /// Part of a procuratorial suggestion to an agency.
    SuggestionIssued,
    /// Handed to another agency.
    Transferred,
    /// Not pursued, with a reason.
    Dismissed,
}

impl Status {
    /// Every status, in workflow order.
    pub const ALL: [Status; 8] = [
        Status::New,
        Status::Assigned,
        Status::Verifying,
        Status::Confirmed,
        Status::CaseFiled,
        Status::SuggestionIssued,
        Status::Transferred,
        Status::Dismissed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Assigned => "assigned",
            Status::Verifying => "verifying",
            Status::Confirmed => "confirmed",
            Status::CaseFiled => "case_filed",
            Status::SuggestionIssued => "suggestion_issued",
            Status::Transferred => "transferred",
            Status::Dismissed => "dismissed",
        }
    }

    /// Whether the clue is closed (no action but comments).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::CaseFiled | Status::SuggestionIssued | Status::Transferred | Status::Dismissed
        )
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Status::ALL.iter().map(|x| x.as_str()).collect();
                format!("unknown clue status `{s}` (one of: {})", all.join(", "))
            })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a clue is dismissed: a fixed list, so the statistics can count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DismissReason {
    /// The data behind it was wrong.
    DataError,
    /// The agency had already dealt with it.
    AlreadyHandled,
    /// Checked: no violation.
    NoViolation,
    /// The same matter as another clue.
    Duplicate,
    /// Anything else; needs a note.
    Other,
}

impl DismissReason {
    /// Every reason.
    pub const ALL: [DismissReason; 5] = [
        DismissReason::DataError,
        DismissReason::AlreadyHandled,
        DismissReason::NoViolation,
        DismissReason::Duplicate,
        DismissReason::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DismissReason::DataError => "data_error",
            DismissReason::AlreadyHandled => "already_handled",
            DismissReason::NoViolation => "no_violation",
            DismissReason::Duplicate => "duplicate",
            DismissReason::Other => "other",
        }
    }
}

impl std::str::FromStr for DismissReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DismissReason::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = DismissReason::ALL.iter().map(|x| x.as_str()).collect();
                format!(
                    "unknown dismissal reason `{s}` (one of: {})",
                    all.join(", ")
                )
            })
    }
}

/// A triage action on one clue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Give it to a prosecutor (or to another one).
    Assign {
        /// Who.
        to: String,
    },
    /// Start verifying it.
    Verify,
    /// Verified: it is real.
    Confirm {
        /// What verification found.
        note: String,
    },
    /// A case was filed.
    FileCase {
        /// Case number or note.
        note: String,
    },
    /// Handed to another agency.
    Transfer {
        /// Which agency.
        agency: String,
    },
    /// Part of a suggestion (done by issuing the suggestion).
    Suggest {
        /// The suggestion.
        suggestion: i64,
    },
    /// Not pursued.
    Dismiss {
        /// Why.
        reason: DismissReason,
        /// Required for `other`.
        note: String,
    },
}

impl Action {
    /// The action's name in events and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Assign { .. } => "assign",
            Action::Verify => "verify",
            Action::Confirm { .. } => "confirm",
            Action::FileCase { .. } => "file-case",
            Action::Transfer { .. } => "transfer",
            Action::Suggest { .. } => "suggest",
            Action::Dismiss { .. } => "dismiss",
        }
    }

    /// The statuses it may start from.
    pub fn from(&self) -> &'static [Status] {
        match self {
            Action::Assign { .. } => &[Status::New, Status::Assigned, Status::Verifying],
            Action::Verify => &[Status::Assigned],
            Action::Confirm { .. } => &[Status::Verifying],
            Action::FileCase { .. } | Action::Transfer { .. } | Action::Suggest { .. } => {
                &[Status::Confirmed]
            }
            Action::Dismiss { .. } => &[
                Status::New,
                Status::Assigned,
                Status::Verifying,
                Status::Confirmed,
            ],
        }
    }

    /// The status after the action from `from` (which must be allowed).
    pub fn to(&self, from: Status) -> Status {
        match self {
            Action::Assign { .. } if from == Status::Verifying => Status::Verifying,
            Action::Assign { .. } => Status::Assigned,
            Action::Verify => Status::Verifying,
            Action::Confirm { .. } => Status::Confirmed,
            Action::FileCase { .. } => Status::CaseFiled,
            Action::Transfer { .. } => Status::Transferred,
            Action::Suggest { .. } => Status::SuggestionIssued,
            Action::Dismiss { .. } => Status::Dismissed,
        }
    }

    /// Checks the action's own input.
    pub fn validate(&self) -> Result<(), String> {
        let empty = |what: &str, s: &str| {
            if s.trim().is_empty() {
                Err(format!("{} needs {what}", self.name()))
            } else if s.len() > 4000 {
                Err(format!("{what} is longer than 4000 bytes"))
            } else {
                Ok(())
            }
        };
        match self {
            Action::Assign { to } => empty("an assignee (--to)", to),
            Action::FileCase { note } => empty("the case number or a note (--note)", note),
            Action::Transfer { agency } => empty("the agency (--agency)", agency),
            Action::Dismiss {
                reason: DismissReason::Other,
                note,
            } => empty("a note when the reason is `other` (--note)", note),
            Action::Confirm { note } | Action::Dismiss { note, .. } if note.len() > 4000 => {
                Err("the note is longer than 4000 bytes".into())
            }
            _ => Ok(()),
        }
    }

    /// Why it is not allowed from `from`, if it is not.
    pub fn refuse(&self, from: Status) -> Option<String> {
        if self.from().contains(&from) {
            return None;
        }
        let allowed: Vec<&str> = Action::menu(from).to_vec();
        Some(format!(
            "cannot {} a clue that is {from}{}",
            self.name(),
            if allowed.is_empty() {
                " (it is closed)".to_string()
            } else {
                format!(" (it can: {})", allowed.join(", "))
            }
        ))
    }

    /// The actions allowed from a status, by name.
    pub fn menu(from: Status) -> Vec<&'static str> {
        let all = [
            Action::Assign { to: String::new() },
            Action::Verify,
            Action::Confirm {
                note: String::new(),
            },
            Action::FileCase {
                note: String::new(),
            },
            Action::Transfer {
                agency: String::new(),
            },
            Action::Suggest { suggestion: 0 },
            Action::Dismiss {
                reason: DismissReason::Other,
                note: String::new(),
            },
        ];
        all.iter()
            .filter(|a| a.from().contains(&from))
            .map(Action::name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let verify = Action::Verify;
        assert!(verify.refuse(Status::Assigned).is_none());
        assert_eq!(verify.to(Status::Assigned), Status::Verifying);
        let msg = verify.refuse(Status::New).expect("refused");
        assert!(
            msg.contains("cannot verify a clue that is new (it can: assign, dismiss)"),
            "{msg}"
        );
        let closed = Action::Confirm {
            note: String::new(),
        }
        .refuse(Status::Dismissed)
        .expect("refused");
        assert!(closed.contains("(it is closed)"), "{closed}");
        assert_eq!(
            Action::Assign { to: "x".into() }.to(Status::Verifying),
            Status::Verifying
        );
        for s in Status::ALL {
            assert_eq!(s.is_closed(), Action::menu(s).is_empty(), "{s}");
        }
    }

    #[test]
    fn dismissing_as_other_needs_a_note() {
        let a = Action::Dismiss {
            reason: DismissReason::Other,
            note: " ".into(),
        };
        assert!(a.validate().is_err());
        let b = Action::Dismiss {
            reason: DismissReason::Duplicate,
            note: String::new(),
        };
        assert!(b.validate().is_ok());
        assert!(
            "nonsense"
                .parse::<DismissReason>()
                .unwrap_err()
                .contains("data_error")
        );
    }
}
