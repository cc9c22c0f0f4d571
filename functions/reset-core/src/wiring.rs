//! The one place a process's adapters are built: from the settings read once through
//! `config::Variables`, on one SDK configuration (one HTTP client for every SDK client), each
//! SDK client and each adapter once. Every function's `main.rs` calls `Wiring::from_env` and takes what it serves
//! with: `app` (the HTTP functions), `address_desk` (address-change), `mail_sender`
//! (send-mail), `mail_events` (mail-events). Building touches no network, except that the
//! account readers (`app`, `address_desk`, `mail_sender`) read a Cognito pool's password policy
//! (a pool weaker than the guide stops the cold start); `mail_events` never touches the pool,
//! whose operations mail-events' role does not have.

use crate::app::{sdk_config_with, App, SdkBounds};
use crate::breach::{BreachCorpus, PwnedPasswordsApi};
use crate::config::{ConfigError, PasswordStore, Settings, Variables};
use crate::domain::{Clock, SystemClock};
use crate::mail::{SesMailer, SqsMailQueue};
use crate::service::{AddressDesk, MailSender};
use crate::store::{AccountStore, CognitoAccounts, DynamoAddressRequests, DynamoStore, MailEventStore, TableNames};
use std::sync::Arc;

/// SDK clients a caller built itself, so that it gets the production adapters on them (the IAM
/// test records their requests with an interceptor). A client left out is built from the SDK
/// configuration by the method whose adapter needs it, so that a function links only the SDKs
/// it calls: building every client up front put SES and SQS into every zip (+280 KB).
#[derive(Debug, Clone, Default)]
pub struct SdkClients {
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
    pub sesv2: Option<aws_sdk_sesv2::Client>,
    pub sqs: Option<aws_sdk_sqs::Client>,
}

/// The settings and the adapters every function shares; the rest is built by the method of the
/// function that needs it, called once per process.
pub struct Wiring {
    pub settings: Settings,
    sdk_config: aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    clients: SdkClients,
    /// The DynamoDB tables: links, counters, the mail ledger, mail events (and the accounts
    /// with the DynamoDB store).
    tables: Arc<DynamoStore>,
    clock: Arc<dyn Clock>,
}

impl Wiring {
    /// Reads the process environment and builds the shared adapters with `bounds` on every SDK
    /// call.
    pub async fn from_env(bounds: SdkBounds) -> Result<Self, ConfigError> {
        Self::read(&Variables::from_env(), bounds).await
    }

    /// The same through a given reader (a function that reads a variable of its own reads it
    /// from the same reader).
    pub async fn read(vars: &Variables<'_>, bounds: SdkBounds) -> Result<Self, ConfigError> {
        let settings = Settings::read(vars)?;
        Ok(Self::new(settings, sdk_config_with(bounds).await))
    }

    /// The production wiring of `settings` on a given SDK configuration.
    pub fn new(settings: Settings, sdk_config: aws_config::SdkConfig) -> Self {
        Self::with_clients(settings, sdk_config, SdkClients::default())
    }

    /// The same on the DynamoDB, SES and SQS clients given (the others, and the Cognito pool's,
    /// built from `sdk_config`).
    pub fn with_clients(settings: Settings, sdk_config: aws_config::SdkConfig, clients: SdkClients) -> Self {
        let dynamodb = clients
            .dynamodb
            .clone()
            .unwrap_or_else(|| aws_sdk_dynamodb::Client::new(&sdk_config));
        let tables = Arc::new(DynamoStore::new(dynamodb.clone(), TableNames::from(&settings)));
        Self {
            settings,
            sdk_config,
            dynamodb,
            clients,
            tables,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk_config
    }

    /// The DynamoDB client every table adapter shares.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb.clone()
    }

    /// The SQS client given, or one built now (called once per process, by the function that
    /// queues or requeues).
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        self.clients
            .sqs
            .clone()
            .unwrap_or_else(|| aws_sdk_sqs::Client::new(&self.sdk_config))
    }

    fn sesv2(&self) -> aws_sdk_sesv2::Client {
        self.clients
            .sesv2
            .clone()
            .unwrap_or_else(|| aws_sdk_sesv2::Client::new(&self.sdk_config))
    }

    /// The HTTP functions' dependencies: the accounts, the queue every mail is handed to, and
    /// the breached password check when it is on.
    pub async fn app(&self) -> Result<App, ConfigError> {
        let (settings, accounts) = self.accounts().await?;
        let mail_queue = SqsMailQueue::new(self.sqs(), self.settings.mail_queue_url.clone());
        let app =
            App::new(settings, self.tables.clone(), Arc::new(mail_queue), self.clock.clone()).with_accounts(accounts);
        Ok(match &self.settings.breach_check {
            Some(check) => app.with_breach_corpus(Arc::new(PwnedPasswordsApi::new(check)) as Arc<dyn BreachCorpus>),
            None => app,
        })
    }

    /// address-change's: the HTTP dependencies and the requests table.
    pub async fn address_desk(&self) -> Result<AddressDesk, ConfigError> {
        Ok(AddressDesk::new(self.app().await?, self.address_requests()))
    }

    /// send-mail's: every store a delivery reads or writes, and SES.
    pub async fn mail_sender(&self) -> Result<MailSender, ConfigError> {
        let (settings, accounts) = self.accounts().await?;
        let mailer = SesMailer::new(
            self.sesv2(),
            self.settings.sender_address.clone(),
            self.settings.ses_configuration_set.clone(),
        );
        Ok(MailSender {
            settings,
            accounts,
            tokens: self.tables.clone(),
            counters: self.tables.clone(),
            ledger: self.tables.clone(),
            mailer: Arc::new(mailer),
            clock: self.clock.clone(),
            address_requests: self.address_requests(),
        })
    }

    /// mail-events': where SES's events are recorded on the accounts.
    pub fn mail_events(&self) -> Arc<dyn MailEventStore> {
        self.tables.clone()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The account store the settings name, and the settings as it tightens them (a pool's
    /// stricter password policy).
    async fn accounts(&self) -> Result<(Settings, Arc<dyn AccountStore>), ConfigError> {
        let mut settings = self.settings.clone();
        let accounts = account_store(&mut settings, &self.sdk_config, &self.tables).await?;
        Ok((settings, accounts))
    }

    fn address_requests(&self) -> Arc<DynamoAddressRequests> {
        Arc::new(DynamoAddressRequests::new(
            self.dynamodb(),
            self.settings.address.requests_table.clone(),
        ))
    }
}

/// The account store `settings` name: the DynamoDB users table, or a Cognito user pool, whose
/// password policy is read here (a pool weaker than the guide stops the cold start; a stricter
/// one tightens `settings`).
async fn account_store(
    settings: &mut Settings,
    sdk_config: &aws_config::SdkConfig,
    tables: &Arc<DynamoStore>,
) -> Result<Arc<dyn AccountStore>, ConfigError> {
    let PasswordStore::Cognito { user_pool_id } = settings.password_store.clone() else {
        return Ok(tables.clone());
    };
    // The tables' users table is the account-state table with a pool: the change's ledger.
    let accounts = CognitoAccounts::new(
        aws_sdk_cognitoidentityprovider::Client::new(sdk_config),
        user_pool_id,
        tables.as_ref().clone(),
    );
    let policy = accounts
        .password_policy()
        .await
        .map_err(|e| ConfigError::PoolUnreadable(e.to_string()))?;
    settings.adopt_pool_policy(&policy)?;
    Ok(Arc::new(accounts))
}
