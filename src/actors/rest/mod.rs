//! `RestActor`: one per tenant; the only caller of the provider REST API.
