//! The command router: one definition gives both the schema a tenant registers
//! ([`AppCommand`]s) and the route each interaction takes — `/name`, `/group sub`,
//! user and message context-menu commands, autocomplete, and components (buttons,
//! selects) and modals by `custom_id` prefix — to an async function of the tenant's
//! [`Ctx`] and the interaction. A [`Router`] is a [`Handler`]: register it like any
//! other, and it serves every tenant it is given to.

mod guard;
mod reply;
mod route;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

pub use self::guard::{Denied, require_permission, require_role, role_setting};
pub use self::reply::{IntoReply, Reply, UserError};
pub use self::route::RouteFn;

use self::guard::Guard;
use self::route::Route;
use crate::commands::{AppCommand, ArgError, CommandKind, OptionDef, OptionKind, Permissions};
use crate::handler::{Ctx, Handler, HandlerError, HandlerResult};
use crate::model::{InteractionCreated, InteractionKind, InteractionResponse};
use crate::state::CooldownScope;

/// Which table a route is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Command,
    Autocomplete,
    Component,
    Modal,
}

/// Routes interactions to async functions, and declares the commands it routes.
///
/// ```
/// use std::time::Duration;
/// use switchboard::commands::{AppCommand, OptionDef, Permissions, Reply, Router};
/// use switchboard::handler::Handler;
/// use switchboard::state::CooldownScope;
///
/// let router = Router::named("game")
///     .command(AppCommand::slash("ping", "Answers pong"), |_ctx, _i| async { "pong" })
///     .cooldown(CooldownScope::User, 1, Duration::from_secs(5))
///     .subcommand(
///         "game",
///         OptionDef::subcommand("start", "Start a game")
///             .option(OptionDef::integer("rounds", "How many rounds").required()),
///         |_ctx, i| async move {
///             let rounds: i64 = i.args().get("rounds")?;
///             Ok::<_, switchboard::handler::HandlerError>(Reply::text(format!("{rounds} rounds")))
///         },
///     )
///     .subcommand("game admin", OptionDef::subcommand("reset", "Reset"), |_ctx, _i| async {
///         Reply::ephemeral("reset")
///     })
///     .require_permission(Permissions::MANAGE_GUILD)
///     .user_command("Game stats", |_ctx, i| async move {
///         format!("stats of <@{}>", i.target_id.unwrap_or_default())
///     })
///     .component("confirm:", |_ctx, _i| async { Reply::ephemeral("confirmed") })
///     .require_role("gm_role");
/// let names: Vec<String> = router.commands().into_iter().map(|c| c.name).collect();
/// assert_eq!(names, ["ping", "game", "Game stats"]);
/// assert_eq!(
///     router.routes(),
///     ["[Game stats]", "/game admin reset", "/game start", "/ping", "component confirm:"]
/// );
/// ```
///
/// # What the router answers by itself
///
/// - A route that returns a [`Reply`] (or text) is answered with it; `()` means the
///   route answered itself through `Ctx::respond_interaction`.
/// - An [`ArgError`](crate::commands::ArgError) (a missing or mistyped option), a
///   [`Denied`] (a guard refused) or a [`UserError`] is answered ephemerally with
///   its text; any other error fails the delivery, which is retried.
/// - A subcommand of one of its commands without a route: an ephemeral "unknown
///   command". Commands it does not declare and custom ids no prefix matches belong
///   to other handlers and are left alone — unless [`Router::answer_unknown`] makes
///   it the tenant's catch-all.
/// - Autocomplete that is refused or unknown gets an empty list of suggestions.
#[derive(Debug, Clone)]
pub struct Router {
    name: String,
    schema: Vec<AppCommand>,
    /// By route: `ping`, `game start`, `game admin reset`, `Game stats`.
    commands: BTreeMap<String, Route>,
    autocomplete: BTreeMap<String, Route>,
    /// By `custom_id` prefix, longest first when matched.
    components: Vec<(String, Route)>,
    modals: Vec<(String, Route)>,
    /// The route the next guard applies to.
    last: Option<(Table, String)>,
    answer_unknown: bool,
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    /// An empty router called `router` (its handler name).
    #[must_use]
    pub fn new() -> Self {
        Self::named("router")
    }

    /// An empty router with this handler name (it keys idempotency records: keep it
    /// stable).
    #[must_use]
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            schema: Vec::new(),
            commands: BTreeMap::new(),
            autocomplete: BTreeMap::new(),
            components: Vec::new(),
            modals: Vec::new(),
            last: None,
            answer_unknown: false,
        }
    }

    fn add(mut self, table: Table, key: String, f: impl RouteFn) -> Self {
        let route = Route::new(f);
        match table {
            Table::Command => {
                self.commands.insert(key.clone(), route);
            }
            Table::Autocomplete => {
                self.autocomplete.insert(key.clone(), route);
            }
            Table::Component => upsert(&mut self.components, &key, route),
            Table::Modal => upsert(&mut self.modals, &key, route),
        }
        self.last = Some((table, key));
        self
    }

    /// Declares `command` and routes it (every subcommand of it, unless one has its
    /// own route) to `f`. Context-menu commands route by their name.
    #[must_use]
    pub fn command<Fut>(
        mut self,
        command: AppCommand,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        let key = command.name.clone();
        self.schema
            .retain(|c| c.name != command.name || c.kind != command.kind);
        self.schema.push(command);
        self.add(Table::Command, key, f)
    }

    /// Declares `command` without a route of its own: the parent of subcommands
    /// routed with [`subcommand`](Self::subcommand), with its description,
    /// permissions and contexts. Declare it before its subcommands.
    #[must_use]
    pub fn declare(mut self, command: AppCommand) -> Self {
        self.schema
            .retain(|c| c.name != command.name || c.kind != command.kind);
        self.schema.push(command);
        self
    }

    /// Adds the subcommand `sub` under `parent` — a command name (`session`) or a
    /// command and group (`game admin`) — and routes it to `f`. A parent or group not
    /// declared yet is created with its name as description.
    ///
    /// # Panics
    /// If `parent` is empty or has more than two words (a programming error, found
    /// when the router is built).
    #[must_use]
    #[track_caller]
    pub fn subcommand<Fut>(
        mut self,
        parent: &str,
        sub: OptionDef,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        let words: Vec<&str> = parent.split_whitespace().collect();
        assert!(
            (1..=2).contains(&words.len()),
            "subcommand parent {parent:?}: a command, or a command and a group"
        );
        let root = words[0];
        let idx = if let Some(i) = self
            .schema
            .iter()
            .position(|c| c.name == root && c.kind == CommandKind::ChatInput)
        {
            i
        } else {
            self.schema.push(AppCommand::slash(root, root));
            self.schema.len() - 1
        };
        let mut holder = &mut self.schema[idx].options;
        if let Some(group) = words.get(1) {
            let g = if let Some(g) = holder
                .iter()
                .position(|o| o.name == *group && o.kind == OptionKind::SubCommandGroup)
            {
                g
            } else {
                holder.push(OptionDef::group(*group, *group));
                holder.len() - 1
            };
            holder = &mut holder[g].options;
        }
        let key = format!("{} {}", words.join(" "), sub.name);
        holder.retain(|o| o.name != sub.name);
        holder.push(sub);
        self.add(Table::Command, key, f)
    }

    /// Declares the user context-menu command `name` and routes it to `f` (the user
    /// is `target_id`).
    #[must_use]
    pub fn user_command<Fut>(
        self,
        name: impl Into<String>,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        self.command(AppCommand::user(name), f)
    }

    /// Declares the message context-menu command `name` and routes it to `f` (the
    /// message is `target_id`).
    #[must_use]
    pub fn message_command<Fut>(
        self,
        name: impl Into<String>,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        self.command(AppCommand::message(name), f)
    }

    /// Routes autocomplete requests of `route` (`session start`, or a command name
    /// for all of its subcommands) to `f`, which answers
    /// [`Reply::choices`] for `i.args().focused()`. Mark the option
    /// [`autocomplete`](OptionDef::autocomplete) in the schema.
    #[must_use]
    pub fn autocomplete<Fut>(
        self,
        route: &str,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        let key = route.split_whitespace().collect::<Vec<_>>().join(" ");
        self.add(Table::Autocomplete, key, f)
    }

    /// Routes clicks of buttons and choices in select menus whose `custom_id` starts
    /// with `prefix` (`confirm:` matches `confirm:1234`) to `f`; the longest matching
    /// prefix wins.
    #[must_use]
    pub fn component<Fut>(
        self,
        prefix: impl Into<String>,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        self.add(Table::Component, prefix.into(), f)
    }

    /// Routes submitted modals whose `custom_id` starts with `prefix` to `f`.
    #[must_use]
    pub fn modal<Fut>(
        self,
        prefix: impl Into<String>,
        f: impl Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output: IntoReply> + Send + 'static,
    {
        self.add(Table::Modal, prefix.into(), f)
    }

    fn guard(mut self, guard: Guard) -> Self {
        let route = match &self.last {
            Some((Table::Command, k)) => self.commands.get_mut(k),
            Some((Table::Autocomplete, k)) => self.autocomplete.get_mut(k),
            Some((Table::Component, k)) => find(&mut self.components, k),
            Some((Table::Modal, k)) => find(&mut self.modals, k),
            None => None,
        };
        let Some(route) = route else {
            panic!("a guard ({guard:?}) needs a route before it: add the route first");
        };
        route.guards.push(guard);
        self
    }

    /// The last route added may be used at most `rate` times per `window` per user,
    /// channel, guild or tenant (`scope`); beyond that the user is answered,
    /// ephemerally, "Slow down: try again in N s." Counted in the tenant's state, so
    /// every worker on every node shares the count.
    ///
    /// # Panics
    /// If no route was added yet.
    #[must_use]
    #[track_caller]
    pub fn cooldown(self, scope: CooldownScope, rate: u32, window: Duration) -> Self {
        self.guard(Guard::Cooldown {
            scope,
            rate,
            window,
        })
    }

    /// The last route added needs `perms` in the channel (see [`require_permission`]).
    ///
    /// # Panics
    /// If no route was added yet.
    #[must_use]
    #[track_caller]
    pub fn require_permission(self, perms: Permissions) -> Self {
        self.guard(Guard::Permission(perms))
    }

    /// The last route added needs the role whose id the tenant's `settings` hold
    /// under `setting` (see [`require_role`]).
    ///
    /// # Panics
    /// If no route was added yet.
    #[must_use]
    #[track_caller]
    pub fn require_role(self, setting: impl Into<String>) -> Self {
        self.guard(Guard::Role(setting.into()))
    }

    /// Makes this router its tenants' catch-all: commands and custom ids no route
    /// matches are answered with an ephemeral "unknown …" instead of being left to
    /// other handlers. Use it on the one router of a tenant.
    #[must_use]
    pub fn answer_unknown(mut self) -> Self {
        self.answer_unknown = true;
        self
    }

    /// Every route, for logs and tests: `/game start`, `[Game stats]` (context
    /// menus), `autocomplete game start`, `component confirm:`, `modal name:`.
    #[must_use]
    pub fn routes(&self) -> Vec<String> {
        let menu = |k: &str| {
            self.schema
                .iter()
                .any(|c| c.name == k && c.kind != CommandKind::ChatInput)
        };
        let mut out: Vec<String> = self
            .commands
            .keys()
            .map(|k| {
                if menu(k) {
                    format!("[{k}]")
                } else {
                    format!("/{k}")
                }
            })
            .collect();
        out.extend(
            self.autocomplete
                .keys()
                .map(|k| format!("autocomplete {k}")),
        );
        out.extend(
            self.components
                .iter()
                .map(|(k, _)| format!("component {k}")),
        );
        out.extend(self.modals.iter().map(|(k, _)| format!("modal {k}")));
        out
    }

    /// Finds the route of `i`: `(route name, route)`, or what to answer when there
    /// is none (`None`: not this router's, stay silent).
    fn lookup(&self, i: &InteractionCreated) -> Result<(String, &Route), Option<String>> {
        let owns = |name: &str| self.schema.iter().any(|c| c.name == name);
        match i.kind {
            InteractionKind::Command | InteractionKind::Autocomplete => {
                let table = if i.kind == InteractionKind::Command {
                    &self.commands
                } else {
                    &self.autocomplete
                };
                let args = i.args();
                let key = args.route();
                let name = i.command_name.as_deref().unwrap_or_default();
                if let Some(r) = table.get(&key).or_else(|| table.get(name)) {
                    return Ok((key, r));
                }
                if owns(name) || self.answer_unknown {
                    Err(Some(format!("Unknown command `/{key}`.")))
                } else {
                    Err(None)
                }
            }
            InteractionKind::Component | InteractionKind::ModalSubmit => {
                let (table, what) = if i.kind == InteractionKind::Component {
                    (&self.components, "This button or menu")
                } else {
                    (&self.modals, "This form")
                };
                let id = i.custom_id.as_deref().unwrap_or_default();
                let found = table
                    .iter()
                    .filter(|(prefix, _)| id.starts_with(prefix.as_str()))
                    .max_by_key(|(prefix, _)| prefix.len());
                match found {
                    Some((prefix, r)) => Ok((prefix.clone(), r)),
                    None if self.answer_unknown => {
                        Err(Some(format!("{what} is no longer handled (`{id}`).")))
                    }
                    None => Err(None),
                }
            }
        }
    }

    /// Routes one interaction: checks the route's guards, runs it, sends its reply.
    ///
    /// # Errors
    /// The route's own error (other than a user-facing one), or a failure to answer.
    pub async fn dispatch(&self, ctx: &Ctx, i: &InteractionCreated) -> HandlerResult {
        let (key, route) = match self.lookup(i) {
            Ok(found) => found,
            Err(None) => return Ok(()),
            Err(Some(unknown)) => {
                tracing::debug!(tenant = %ctx.tenant(), "{unknown}");
                return refuse(ctx, i, unknown).await;
            }
        };
        for guard in &route.guards {
            if let Err(denied) = guard.check(ctx, i, &key).await? {
                tracing::debug!(tenant = %ctx.tenant(), route = %key, user = %i.user.id, "refused: {denied}");
                return refuse(ctx, i, denied.to_string()).await;
            }
        }
        match route.run.call(ctx.clone(), i.clone()).await {
            Ok(reply) => {
                if let Some(response) = reply.into_response() {
                    ctx.respond_interaction(i, response).await?;
                }
                Ok(())
            }
            Err(e) => match user_message(&e) {
                Some(text) => refuse(ctx, i, text).await,
                None => Err(e),
            },
        }
    }
}

impl Handler for Router {
    fn name(&self) -> &str {
        &self.name
    }

    fn commands(&self) -> Vec<AppCommand> {
        self.schema.clone()
    }

    async fn on_interaction(&self, ctx: &Ctx, interaction: &InteractionCreated) -> HandlerResult {
        self.dispatch(ctx, interaction).await
    }
}

fn upsert(table: &mut Vec<(String, Route)>, key: &str, route: Route) {
    table.retain(|(k, _)| k != key);
    table.push((key.to_owned(), route));
}

fn find<'a>(table: &'a mut [(String, Route)], key: &str) -> Option<&'a mut Route> {
    table.iter_mut().find(|(k, _)| k == key).map(|(_, r)| r)
}

/// The text to answer the user with, if `e` is meant for them.
fn user_message(e: &HandlerError) -> Option<String> {
    if let Some(e) = e.downcast_ref::<ArgError>() {
        return Some(format!("Invalid input: {e}."));
    }
    if let Some(e) = e.downcast_ref::<Denied>() {
        return Some(e.to_string());
    }
    e.downcast_ref::<UserError>().map(ToString::to_string)
}

/// Answers `text` ephemerally (an autocomplete request: no suggestions).
async fn refuse(ctx: &Ctx, i: &InteractionCreated, text: String) -> HandlerResult {
    let response = if i.kind == InteractionKind::Autocomplete {
        InteractionResponse::Autocomplete(Vec::new())
    } else {
        match Reply::ephemeral(text).into_response() {
            Some(r) => r,
            None => return Ok(()),
        }
    };
    ctx.respond_interaction(i, response).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
