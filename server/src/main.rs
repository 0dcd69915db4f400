//! The `uni1` command. See `uni1 --help`.

use std::process::ExitCode;

use clap::Parser;
use uni1_server::config::{self, Cli, Command, Settings};
use uni1_server::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("uni1: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uni1: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.as_deref();
    match cli.command.unwrap_or(Command::Serve(Default::default())) {
        Command::Serve(args) => {
            let settings = Settings::resolve(*args, file)?;
            telemetry::init(settings.log_format);
            uni1_server::serve(settings).await
        }
        Command::Worker(args) => {
            let settings = config::WorkerSettings::resolve(*args, file)?;
            telemetry::init(settings.log_format);
            uni1_server::worker(settings).await
        }
        Command::ModelServer(args) => {
            telemetry::init(config::LogFormat::Text);
            uni1_server::model_server(args).await
        }
        Command::PaymentFake(args) => {
            telemetry::init(config::LogFormat::Text);
            uni1_server::payment_fake(args).await
        }
        Command::Migrate(args) => {
            let settings = config::resolve_database_only(args, file)?;
            telemetry::init(settings.log_format);
            uni1_server::migrate(&settings.database).await
        }
        Command::Admin(config::AdminArgs {
            database,
            command: config::AdminCommand::RebuildVariants { batch, generation },
        }) => {
            let settings = config::WorkerSettings::resolve(
                config::WorkerArgs {
                    database,
                    generation: *generation,
                },
                file,
            )?;
            telemetry::init(settings.log_format);
            let report = uni1_server::admin::rebuild_variants(settings, batch).await?;
            println!("{report}");
            Ok(())
        }
        Command::Admin(args) => {
            let settings = config::resolve_database_only(args.database, file)?;
            telemetry::init(settings.log_format);
            let password = uni1_server::admin::read_password(&args.command)?;
            let db = uni1_server::startup::open_database(&settings.database).await?;
            let key = uni1_server::app_key(settings.app_key.as_ref(), &settings.data_dir)?;
            let message = uni1_server::admin::run(db, key, args.command, password).await?;
            println!("{message}");
            Ok(())
        }
    }
}
