//! Pieces shared by the screens: the header and the "coming to this screen" list.

use dioxus::prelude::*;

/// Heading plus a sentence saying what the screen holds (or will hold).
#[component]
pub(super) fn ScreenHeader(title: &'static str, purpose: &'static str) -> Element {
    rsx! {
        h1 { class: "screen-title", "{title}" }
        p { class: "screen-purpose", "{purpose}" }
    }
}

#[component]
pub(super) fn Planned(items: Vec<&'static str>) -> Element {
    rsx! {
        section { class: "planned",
            h2 { "Coming to this screen" }
            ul {
                for item in items {
                    li { key: "{item}", "{item}" }
                }
            }
        }
    }
}
