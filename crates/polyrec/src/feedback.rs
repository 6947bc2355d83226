//! How a reason words the user's strength of the liked item it starts from: a rating, a
//! count, or a plain like.

use polyrec_graph::strength_text;
use polyrec_rank::heads::{HeadKind, TaskHead};

/// The wording of a liked item's strength in a reason.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Feedback {
    /// A rating on a scale (a regression task with a `range`): "which you rated 5".
    Rated,
    /// Another quantity (a regression task without a range, e.g. a play count): "with
    /// 3301 plays".
    Counted(String),
    /// No regression task: liked, with no strength to quote.
    Liked,
}

impl Feedback {
    /// The wording for the regression task whose label is the strength (`None`: none),
    /// looked up among the model's heads for its range.
    pub(crate) fn for_task(task: Option<&str>, heads: &[TaskHead]) -> Self {
        let Some(name) = task else {
            return Self::Liked;
        };
        let scale = heads.iter().any(|h| {
            h.name == name && matches!(h.kind, HeadKind::Regression { range: Some(_), .. })
        });
        if scale {
            Self::Rated
        } else {
            Self::Counted(name.to_string())
        }
    }

    /// The phrase for one strength, e.g. "which you rated 5".
    pub(crate) fn phrase(&self, strength: f32) -> String {
        match self {
            Self::Rated => format!("which you rated {}", strength_text(strength)),
            Self::Counted(task) => format!("with {} {task}", strength_text(strength)),
            Self::Liked => "which you liked".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(name: &str, range: Option<[f32; 2]>) -> TaskHead {
        TaskHead {
            name: name.into(),
            kind: HeadKind::Regression {
                mean: 0.0,
                std: 1.0,
                range,
            },
            user_level: false,
        }
    }

    #[test]
    fn reasons_word_ratings_counts_and_plain_likes_apart() {
        let heads = [head("rating", Some([1.0, 5.0])), head("plays", None)];
        assert_eq!(Feedback::for_task(Some("rating"), &heads), Feedback::Rated);
        assert_eq!(
            Feedback::for_task(Some("plays"), &heads),
            Feedback::Counted("plays".into())
        );
        assert_eq!(Feedback::for_task(None, &heads), Feedback::Liked);
        assert_eq!(Feedback::Rated.phrase(5.0), "which you rated 5");
        assert_eq!(Feedback::Rated.phrase(4.5), "which you rated 4.5");
        assert_eq!(
            Feedback::Counted("plays".into()).phrase(3301.0),
            "with 3301 plays"
        );
        assert_eq!(Feedback::Liked.phrase(1.0), "which you liked");
    }
}
