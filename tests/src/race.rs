//! Many requests racing on one resource with the same `If-Match`: exactly one may win,
//! every other one is `412` and changes nothing.

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::fleet::Fleet;
use crate::vigil::{Answer, expect};

/// What the winning request does to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Win {
    /// `200` with the resource as it now is (a `PATCH`).
    Changes,
    /// `204`, and the resource stays, changed (a `DELETE` that cancels, as of a plan).
    Keeps,
    /// `204`, and the resource is gone (a `DELETE`).
    Removes,
    /// `204`, and the item is gone from its list, whose `ETag` (the version of the
    /// subscription's policy) guards it: role assignments, custom roles, device groups,
    /// which have no item `GET`.
    RemovesFromList,
}

/// A race of one request per body, each `method` on `/subscriptions/<sub><rest>` as the
/// owner, all with the `ETag` the resource has before it starts.
pub struct Race<'a> {
    pub fleet: &'a Fleet,
    pub method: Method,
    pub rest: String,
    /// One per racer; each changes something different where the method has a body.
    pub bodies: Vec<Option<Value>>,
    pub win: Win,
    /// The audit action of the change, recorded exactly once (for the winner).
    pub action: &'a str,
    /// The resource's id, the audit entry's target.
    pub target: &'a str,
}

/// How a race ended.
#[derive(Debug)]
pub struct Finish {
    /// The `ETag` every racer sent.
    pub etag_before: String,
    /// Which body won.
    pub winner: usize,
    pub answers: Vec<Answer>,
    /// `GET` of the resource afterwards.
    pub after: Answer,
}

impl Race<'_> {
    /// Runs the race and checks the contract: exactly one `2xx`; every other racer `412`
    /// with the contract's error body; the resource afterwards is the winner's (its
    /// `ETag` moved, or it is gone); one audit entry of the change.
    ///
    /// When the winner deletes the resource, a racer arriving after that commit is `404`
    /// (the contract checks existence before preconditions): that alone is allowed
    /// besides `412`. A racer that read the resource before the commit must still be
    /// `412` — `tests/races.rs` pins that down deterministically in process.
    pub async fn run(self) -> Finish {
        let fleet = self.fleet;
        let path = fleet.path(&self.rest);
        // What is read back: the item, or for items without a GET their list.
        let read = match self.win {
            Win::RemovesFromList => self
                .rest
                .rsplit_once('/')
                .expect("an item path")
                .0
                .to_owned(),
            _ => self.rest.clone(),
        };
        let etag_before = fleet.etag(&read).await;
        let audited_before = audited(fleet, self.action, self.target).await;
        let start = Arc::new(tokio::sync::Barrier::new(self.bodies.len()));
        let racers: Vec<_> = self
            .bodies
            .into_iter()
            .map(|body| {
                let (api, token) = (fleet.api.clone(), fleet.owner.clone());
                let (method, path, etag) = (self.method.clone(), path.clone(), etag_before.clone());
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    api.send_if_match(method, &path, Some(&token), body, &etag)
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.expect("a racer finishes"));
        }

        let success = match self.win {
            Win::Changes => 200,
            Win::Keeps | Win::Removes | Win::RemovesFromList => 204,
        };
        let winners: Vec<usize> = (0..answers.len())
            .filter(|&n| (200..300).contains(&answers[n].status))
            .collect();
        assert_eq!(winners.len(), 1, "exactly one winner: {answers:#?}");
        let winner = winners[0];
        assert_eq!(answers[winner].status, success, "{answers:#?}");
        for (n, answer) in answers.iter().enumerate() {
            if n == winner {
                continue;
            }
            let removes = matches!(self.win, Win::Removes | Win::RemovesFromList);
            if removes && answer.status == 404 {
                expect(answer, 404, "not_found");
            } else {
                expect(answer, 412, "precondition_failed");
            }
        }

        let after = fleet.get(&read).await;
        match self.win {
            Win::Changes => {
                assert_eq!(after.status, 200, "{after:?}");
                assert_eq!(after.body, answers[winner].body, "the winner's change");
                assert_eq!(after.etag, answers[winner].etag, "the winner's ETag");
                assert_ne!(after.etag.as_deref(), Some(etag_before.as_str()));
            }
            Win::Keeps => {
                assert_eq!(after.status, 200, "{after:?}");
                assert_ne!(after.etag.as_deref(), Some(etag_before.as_str()));
            }
            Win::Removes => expect(&after, 404, "not_found"),
            Win::RemovesFromList => {
                assert_eq!(after.status, 200, "{after:?}");
                let items = after.body["items"].as_array().expect("a page");
                assert!(
                    items.iter().all(|item| item["id"] != self.target),
                    "{} still listed: {after:?}",
                    self.target
                );
                expect(&fleet.delete(&self.rest).await, 404, "not_found");
            }
        }
        assert_eq!(
            audited(fleet, self.action, self.target).await,
            audited_before + 1,
            "one {} of {} audited",
            self.action,
            self.target
        );
        Finish {
            etag_before,
            winner,
            answers,
            after,
        }
    }
}

/// How many audit entries record `action` on `target`.
async fn audited(fleet: &Fleet, action: &str, target: &str) -> usize {
    fleet
        .audit()
        .await
        .iter()
        .filter(|entry| entry["action"] == action && entry["target"] == target)
        .count()
}
