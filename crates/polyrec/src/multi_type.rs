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

impl Recommender {
    /// The friend suggestions of a request: a known user, and a loaded friend model.
    pub(crate) fn friends_for(&self, req: &Request) -> Result<Vec<FriendRecommendation>, Error> {
        let Some(social) = &self.social else {
            return Err(bad(
                "types",
                format!(
                    "`friends`: this recommender has no friend model (load it with \
                     LoadOptions::social, `--types friends` on the command line; dataset `{}` \
                     needs a [social] table)",
                    self.dataset().name
                ),
            ));
        };
        let Some(user) = &req.user else {
            return Err(bad(
                "types",
                "`friends` are suggested to a known `user`, not to a profile",
            ));
        };
        social.recommend_friends(user, req.k.unwrap_or(10))
    }

    /// The topic suggestions of a request: a known user, and a loaded topic model.
    pub(crate) fn topics_for(&self, req: &Request) -> Result<Vec<TopicRecommendation>, Error> {
        let Some(topics) = &self.topics else {
            return Err(bad(
                "types",
                format!(
                    "`topics`: this recommender has no topic model (load it with \
                     LoadOptions::topics, `--types topics` on the command line; dataset `{}` \
                     needs a [tags] table)",
                    self.dataset().name
                ),
            ));
        };
        let Some(user) = &req.user else {
            return Err(bad(
                "types",
                "`topics` are suggested to a known `user`, not to a profile",
            ));
        };
        topics.recommend_topics(user, req.k.unwrap_or(10))
    }
}
