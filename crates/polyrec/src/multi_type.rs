//! Several result types in one request: items from the multi-task model, people to
//! befriend from the friend model ([`crate::social`]) and topics to use next from the topic
//! model ([`crate::topics`]), each `k` long, each with its reasons.

use crate::recommend::{Error, Recommender, Request, ResultType};
use crate::social::FriendRecommendation;
use crate::topics::TopicRecommendation;

fn bad(field: &'static str, message: impl Into<String>) -> Error {
    Error::Request {
        field,
        message: message.into(),
    }
}

/// The types a request asks for, each once, in [`ResultType::ALL`] order (items alone when
/// it names none).
pub(crate) fn requested(req: &Request) -> Result<Vec<ResultType>, Error> {
    if req.types.is_empty() {
        return Ok(vec![ResultType::Items]);
    }
    Ok(ResultType::ALL
        .into_iter()
        .filter(|t| req.types.contains(t))
        .collect())
}

/// The known user a side result type (`kind`: friends, topics) is for, with its model
/// (`None`: not loaded; `spec_table` names what the dataset needs for it).
fn user_and_model<'a, M>(
    req: &'a Request,
    model: Option<&'a M>,
    kind: &str,
    option: &str,
    spec_table: &str,
    dataset: &str,
) -> Result<(&'a str, &'a M), Error> {
    let Some(model) = model else {
        return Err(bad(
            "types",
            format!(
                "`{kind}`: this recommender has no {kind} model (load it with \
                 LoadOptions::{option}, `--types {kind}` on the command line; dataset \
                 `{dataset}` needs a {spec_table} table)"
            ),
        ));
    };
    let Some(user) = &req.user else {
        return Err(bad(
            "types",
            format!("`{kind}` are suggested to a known `user`, not to a profile"),
        ));
    };
    Ok((user, model))
}

impl Recommender {
    /// The friend suggestions of a request: a known user, and a loaded friend model.
    pub(crate) fn friends_for(&self, req: &Request) -> Result<Vec<FriendRecommendation>, Error> {
        let (user, social) = user_and_model(
            req,
            self.social.as_deref(),
            "friends",
            "social",
            "[social]",
            &self.dataset().name,
        )?;
        social.recommend_friends(user, req.k.unwrap_or(10))
    }

    /// The topic suggestions of a request: a known user, and a loaded topic model.
    pub(crate) fn topics_for(&self, req: &Request) -> Result<Vec<TopicRecommendation>, Error> {
        let (user, topics) = user_and_model(
            req,
            self.topics.as_deref(),
            "topics",
            "topics",
            "[tags]",
            &self.dataset().name,
        )?;
        topics.recommend_topics(user, req.k.unwrap_or(10))
    }
}
