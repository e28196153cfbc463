//! Laboratory results the hospital's server has for the case's patient, offered for one-tap
//! acceptance into the case (the screen only shows and sends; `app::labs` decides).

use dioxus::prelude::*;

use super::state::UiState;
use crate::app::view::SyncState;
use crate::app::Services;
use crate::domain::CaseId;

#[component]
pub fn LabOffers(case: CaseId) -> Element {
    let services = use_context::<Services>();
    let state = use_context::<UiState>();
    let mut taken = use_signal(|| 0u64);
    // Re-read after each pull and after each acceptance.
    let last_pull = use_memo(move || match &*state.sync.read() {
        SyncState::Active(s) => s.last_pull,
        _ => None,
    });
    let svc = services.clone();
    let offers = use_resource(move || {
        let svc = svc.clone();
        let _ = last_pull.read();
        let _ = taken.read();
        async move { svc.lab_offers(case).await }
    });
    let list = match &*offers.read() {
        Some(Ok(list)) => list.clone(),
        Some(Err(e)) => {
            return rsx! { p { class: "note error", "Laboratory results cannot be read: {e}" } };
        }
        None => Vec::new(),
    };
    if list.is_empty() {
        return rsx! {};
    }
    let count = list.len();
    rsx! {
        section { class: "lab-offers", "data-lab-offers": "{count}",
            h3 { "From the hospital's laboratory" }
            for offer in list.into_iter() {
                div { key: "{offer.key()}", class: "lab-offer",
                    span { class: "lab-summary", "{offer.summary()}" }
                    button { class: "small", "data-testid": "accept-lab", "data-lab": "{offer.key()}",
                        onclick: {
                            let services = services.clone();
                            let key = offer.key();
                            move |_| {
                                let services = services.clone();
                                let key = key.clone();
                                spawn(async move {
                                    let result = services.accept_lab(case, &key).await.map(|_| ());
                                    if state.report("Laboratory result", result) {
                                        state.flash("Laboratory result taken into the case".into());
                                    }
                                    *taken.write() += 1;
                                });
                            }
                        },
                        "Accept"
                    }
                }
            }
        }
    }
}
