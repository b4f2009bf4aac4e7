//! `vfedctl login|logout|whoami` and `vfedctl users ...` (accounts, roles,
//! training records).

use std::io::{BufRead as _, IsTerminal as _};

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use vfed_proto::auth::v1 as pb;
use vfed_proto::auth::v1::accounts_client::AccountsClient;

use crate::credentials::{Credentials, StoredContext};
use crate::exit::usage;
use crate::output;
use crate::render::key_values;
use crate::session::{NodeChannel, Session};
use crate::table::Table;

/// `vfedctl login`.
#[derive(Debug, Args)]
#[command(after_help = "\
The token is stored in $VFEDCONFIG (default ~/.vfed/config.json, mode 0600) as a
context named <user>@<node>, which becomes the current context: later commands
without --endpoint/--demo talk to that node as that person.

Examples:
  vfedctl --demo /tmp/vfed login admin --password-file /tmp/vfed/admin-password
  echo \"$PW\" | vfedctl --endpoint https://10.0.0.5:7100 --ca ca.pem --cert ws.pem --key ws.key login alice --password-stdin")]
pub struct LoginArgs {
    /// Account name.
    pub name: String,
    /// Read the password from the first line of stdin.
    #[arg(long, conflicts_with = "password_file")]
    pub password_stdin: bool,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<std::path::PathBuf>,
    /// Token lifetime, e.g. 1h (capped by the node).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub ttl: Option<std::time::Duration>,
}

/// Roles, as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Operator,
    DutyMonitor,
    Officer,
    Auditor,
    DepartmentViewer,
}

impl RoleArg {
    fn to_proto(self) -> pb::Role {
        match self {
            RoleArg::Admin => pb::Role::Admin,
            RoleArg::Operator => pb::Role::Operator,
            RoleArg::DutyMonitor => pb::Role::DutyMonitor,
            RoleArg::Officer => pb::Role::Officer,
            RoleArg::Auditor => pb::Role::Auditor,
            RoleArg::DepartmentViewer => pb::Role::DepartmentViewer,
        }
    }
}

/// `vfedctl users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account (there is no role for private citizens, R17).
    #[command(after_help = "\
Examples:
  vfedctl users create alice --role officer --unit \"Naidong PSB\" --password-stdin
  vfedctl users create traffic-1 --role department-viewer --department traffic --password-file pw.txt
  vfedctl users create ws-07 --role duty-monitor   # certificate-only (tool/ws-07 or user/ws-07)")]
    Create {
        /// Account name: 1-64 of a-z, 0-9, '.', '_', '-'.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Display name.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Unit (organisation).
        #[arg(long, default_value = "")]
        unit: String,
        /// Department (department viewers, R13).
        #[arg(long, default_value = "")]
        department: String,
        /// Read the initial password from stdin (else certificate-only).
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Read the initial password from this file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
    },
    /// List accounts.
    List,
    /// Show one account with its training records.
    Show {
        /// Account name.
        name: String,
    },
    /// Change role, unit, department, or disable/enable an account.
    Update {
        /// Account name.
        name: String,
        /// New role.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// New unit.
        #[arg(long)]
        unit: Option<String>,
        /// New department.
        #[arg(long)]
        department: Option<String>,
        /// Disable the account (its tokens stop working at once).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable it again.
        #[arg(long)]
        enable: bool,
        /// Set a new password read from stdin (earlier tokens stop working).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lift an account's lockout after failed logins (and forget its failures).
    #[command(after_help = "Example:\n  vfedctl users unlock admin")]
    Unlock {
        /// Account name.
        name: String,
    },
    /// Record a completed training course (duty monitors, R14.1).
    Train {
        /// Account name.
        name: String,
        /// Course.
        #[arg(long)]
        course: String,
        /// Completion date, RFC 3339 (e.g. 2026-11-01T00:00:00Z) or Unix seconds.
        #[arg(long)]
        completed: String,
        /// Certificate number.
        #[arg(long, default_value = "")]
        certificate: String,
    },
}

fn read_password(stdin: bool, file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let line = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("--password-file {}: {e}", path.display())))?;
        text.lines().next().unwrap_or("").to_owned()
    } else if stdin {
        if std::io::stdin().is_terminal() {
            eprint!("password: ");
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        return Ok(None);
    };
    if line.is_empty() {
        return Err(usage("the password is empty"));
    }
    Ok(Some(line))
}

async fn accounts(session: &Session) -> anyhow::Result<AccountsClient<NodeChannel>> {
    Ok(AccountsClient::new(session.channel().await?))
}

fn role_name(role: i32) -> &'static str {
    match pb::Role::try_from(role).unwrap_or(pb::Role::Unspecified) {
        pb::Role::Unspecified => "-",
        pb::Role::Admin => "admin",
        pb::Role::Operator => "operator",
        pb::Role::DutyMonitor => "duty-monitor",
        pb::Role::Officer => "officer",
        pb::Role::Auditor => "auditor",
        pb::Role::DepartmentViewer => "department-viewer",
    }
}

#[derive(Serialize)]
struct UserView<'a> {
    name: &'a str,
    display_name: &'a str,
    role: &'static str,
    unit: &'a str,
    department: &'a str,
    disabled: bool,
    has_password: bool,
    created_by: &'a str,
    trainings: Vec<TrainingView<'a>>,
}

#[derive(Serialize)]
struct UnlockView<'a> {
    name: &'a str,
    was_locked: bool,
    failed_logins: u32,
}

#[derive(Serialize)]
struct TrainingView<'a> {
    course: &'a str,
    completed_unix: i64,
    certificate: &'a str,
}

impl<'a> From<&'a pb::User> for UserView<'a> {
    fn from(u: &'a pb::User) -> Self {
        UserView {
            name: &u.name,
            display_name: &u.display_name,
            role: role_name(u.role),
            unit: &u.unit,
            department: &u.department,
            disabled: u.disabled,
            has_password: u.has_password,
            created_by: &u.created_by,
            trainings: u
                .trainings
                .iter()
                .map(|t| TrainingView {
                    course: &t.course,
                    completed_unix: t.completed_unix,
                    certificate: &t.certificate,
                })
                .collect(),
        }
    }
}

fn user_text(u: &pb::User) -> String {
    let mut text = key_values(&[
        ("Name", u.name.clone()),
        ("Display name", u.display_name.clone()),
        ("Role", role_name(u.role).to_owned()),
        ("Unit", u.unit.clone()),
        ("Department", u.department.clone()),
        ("Disabled", u.disabled.to_string()),
        (
            "Signs in with",
            if u.has_password {
                "password or certificate"
            } else {
                "certificate"
            }
            .to_owned(),
        ),
        ("Created by", u.created_by.clone()),
    ]);
    if !u.trainings.is_empty() {
        let mut table = Table::new(&["COURSE", "COMPLETED", "CERTIFICATE"]).indent(2);
        for t in &u.trainings {
            table.row([
                t.course.clone(),
                crate::timefmt::unix_seconds(t.completed_unix),
                t.certificate.clone(),
            ]);
        }
        text.push_str("Training:\n");
        text.push_str(&table.render());
    }
    text
}

/// Runs `vfedctl login`.
pub async fn login(args: LoginArgs, session: &Session) -> anyhow::Result<()> {
    let password = read_password(
        args.password_stdin || args.password_file.is_none(),
        args.password_file.as_deref(),
    )?
    .ok_or_else(|| usage("no password: pass --password-stdin or --password-file"))?;
    let target = session.target()?;
    // A person logs in over the bare certificate: an earlier (even expired)
    // login for the node does not stand in the way.
    let mut accounts = AccountsClient::new(session.certificate_channel().await?);
    let response = session
        .call(
            accounts.login(pb::LoginRequest {
                name: args.name.clone(),
                password,
                ttl_seconds: args
                    .ttl
                    .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            }),
        )
        .await?;
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let node = target
        .server_id
        .clone()
        .unwrap_or_else(|| target.endpoint.clone());
    let context = StoredContext {
        name: format!("{}@{node}", args.name),
        endpoint: target.endpoint.clone(),
        ca: absolute(&target.ca),
        cert: absolute(&target.cert),
        key: absolute(&target.key),
        server_id: target.server_id.clone(),
        http_endpoint: target.http_endpoint.clone(),
        user: args.name.clone(),
        token: response.token,
        expires_unix: response.expires_unix,
    };
    let mut stored = Credentials::load()?;
    stored.upsert(context.clone());
    let path = stored.save()?;
    eprintln!(
        "logged in as {} at {} until {}; context {} saved in {}",
        args.name,
        node,
        crate::timefmt::unix_seconds(response.expires_unix),
        context.name,
        path.display()
    );
    Ok(())
}

/// Runs `vfedctl logout`: forgets the token of the target node's login.
pub async fn logout(session: &Session) -> anyhow::Result<()> {
    let target = session.target()?;
    let mut stored = Credentials::load()?;
    let before = stored.contexts.len();
    stored.contexts.retain(|c| c.endpoint != target.endpoint);
    if stored.contexts.len() == before {
        eprintln!("no stored login for {}", target.endpoint);
        return Ok(());
    }
    if stored.current().is_none() {
        stored.current_context.clear();
    }
    let path = stored.save()?;
    eprintln!("logged out of {} ({})", target.endpoint, path.display());
    Ok(())
}

#[derive(Serialize)]
struct WhoAmIView<'a> {
    user: Option<UserView<'a>>,
    authenticated_by: &'a str,
    permissions: &'a [String],
    token_expires_unix: i64,
}

/// Runs `vfedctl whoami`.
pub async fn whoami(session: &Session) -> anyhow::Result<()> {
    let response = session
        .call(accounts(session).await?.who_am_i(pb::WhoAmIRequest {}))
        .await?;
    let view = WhoAmIView {
        user: response.user.as_ref().map(UserView::from),
        authenticated_by: &response.authenticated_by,
        permissions: &response.permissions,
        token_expires_unix: response.token_expires_unix,
    };
    output::emit(session.format(), &view, || {
        let user = response.user.clone().unwrap_or_default();
        key_values(&[
            ("Name", user.name.clone()),
            ("Role", role_name(user.role).to_owned()),
            ("Unit", user.unit.clone()),
            ("Authenticated by", response.authenticated_by.clone()),
            ("Permissions", response.permissions.join(", ")),
            (
                "Token expires",
                if response.token_expires_unix > 0 {
                    crate::timefmt::unix_seconds(response.token_expires_unix)
                } else {
                    "-".to_owned()
                },
            ),
        ])
    })
}

/// Runs a `vfedctl users` command.
pub async fn users(command: UsersCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = accounts(session).await?;
    let user = match command {
        UsersCommand::Create {
            name,
            role,
            display_name,
            unit,
            department,
            password_stdin,
            password_file,
        } => {
            let password =
                read_password(password_stdin, password_file.as_deref())?.unwrap_or_default();
            session
                .call(client.create_user(pb::CreateUserRequest {
                    user: Some(pb::User {
                        name,
                        display_name,
                        role: role.to_proto() as i32,
                        unit,
                        department,
                        ..Default::default()
                    }),
                    password,
                }))
                .await?
        }
        UsersCommand::List => {
            let list = session
                .call(client.list_users(pb::ListUsersRequest {}))
                .await?;
            let views: Vec<UserView<'_>> = list.users.iter().map(UserView::from).collect();
            return output::emit(session.format(), &views, || {
                let mut table = Table::new(&[
                    "NAME",
                    "ROLE",
                    "UNIT",
                    "DEPARTMENT",
                    "DISABLED",
                    "TRAININGS",
                ]);
                for u in &list.users {
                    table.row([
                        u.name.clone(),
                        role_name(u.role).to_owned(),
                        u.unit.clone(),
                        u.department.clone(),
                        u.disabled.to_string(),
                        u.trainings.len().to_string(),
                    ]);
                }
                table.render()
            });
        }
        UsersCommand::Show { name } => {
            session
                .call(client.get_user(pb::GetUserRequest { name }))
                .await?
        }
        UsersCommand::Update {
            name,
            role,
            unit,
            department,
            disable,
            enable,
            password_stdin,
        } => {
            let password = read_password(password_stdin, None)?.unwrap_or_default();
            session
                .call(client.update_user(pb::UpdateUserRequest {
                    name,
                    display_name: None,
                    role: role.map(|r| r.to_proto() as i32),
                    unit,
                    department,
                    disabled: (disable || enable).then_some(disable),
                    password,
                }))
                .await?
        }
        UsersCommand::Unlock { name } => {
            let r = session
                .call(client.unlock_user(pb::UnlockUserRequest { name: name.clone() }))
                .await?;
            let view = UnlockView {
                name: &name,
                was_locked: r.was_locked,
                failed_logins: r.failed_logins,
            };
            return output::emit(session.format(), &view, || {
                if r.was_locked {
                    format!(
                        "{name}: unlocked ({} failed logins forgotten)\n",
                        r.failed_logins
                    )
                } else {
                    format!(
                        "{name}: was not locked ({} failed logins forgotten)\n",
                        r.failed_logins
                    )
                }
            });
        }
        UsersCommand::Train {
            name,
            course,
            completed,
            certificate,
        } => {
            let completed_unix = crate::commands::retrieval::args::instant(&completed)
                .map_err(|e| usage(format!("--completed: {e}")))?;
            session
                .call(client.record_training(pb::RecordTrainingRequest {
                    name,
                    training: Some(pb::Training {
                        course,
                        completed_unix,
                        certificate,
                    }),
                }))
                .await?
        }
    };
    output::emit(session.format(), &UserView::from(&user), || {
        user_text(&user)
    })
}
