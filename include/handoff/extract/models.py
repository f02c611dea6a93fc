"""Required fields of each object, as pydantic models (extra fields are allowed and kept).

Only what downstream models and the cursor cannot do without is declared: identity, version
(modification time), deletion flag and the few business keys the transforms join on. A record
that fails lands in `ops.rejected_records` with pydantic's reason; its payload is kept there.
Optional fields stay in the JSONB payload untouched, so a new field never breaks a load.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


def _sf_datetime(v):
    """Salesforce renders offsets as +0000, which ISO parsers of Python 3.11 reject."""
    if isinstance(v, str) and len(v) > 5 and v[-5] in "+-" and v[-3] != ":":
        return v[:-2] + ":" + v[-2:]
    return v


def _netsuite_ts(v):
    """`TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS')` is UTC without an offset."""
    if isinstance(v, str) and len(v) == 19:
        return v + "+00:00"
    return v


SfDateTime = Annotated[datetime, BeforeValidator(_sf_datetime)]
NsDateTime = Annotated[datetime, BeforeValidator(_netsuite_ts)]
Id = Annotated[str, StringConstraints(min_length=1)]
IntId = Annotated[str, StringConstraints(min_length=1), Field(coerce_numbers_to_str=True)]  # 12 or "12"


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- Salesforce ---------------------------------------------------------------------------------
class SalesforceRecord(_Base):
    Id: Annotated[str, StringConstraints(min_length=15, max_length=18)]
    SystemModstamp: SfDateTime
    IsDeleted: bool = False


class SfAccount(SalesforceRecord):
    Name: Id


class SfContact(SalesforceRecord):
    LastName: Id
    AccountId: str | None = None


class SfOpportunity(SalesforceRecord):
    Name: Id
    StageName: Id
    CloseDate: date
    AccountId: str | None = None


class SfOpportunityLineItem(SalesforceRecord):
    OpportunityId: Id


class SfUser(SalesforceRecord):
    Username: Id


# -- HubSpot ------------------------------------------------------------------------------------
class HubSpotObject(_Base):
    id: Id
    properties: dict[str, str | None]
    createdAt: datetime
    updatedAt: datetime
    archived: bool


# -- Kantata ------------------------------------------------------------------------------------
class KantataRecord(_Base):
    id: IntId
    created_at: datetime
    updated_at: datetime


class KtWorkspace(KantataRecord):
    title: Id


class KtStory(KantataRecord):
    title: Id
    workspace_id: IntId
    deleted_at: datetime | None = None  # soft-deleted (listed with show_deleted=true)


class KtUser(KantataRecord):
    full_name: Id


class KtTimeEntry(KantataRecord):
    date_performed: date
    time_in_minutes: int = Field(ge=0)
    user_id: IntId
    workspace_id: IntId


class KtExpense(KantataRecord):
    date: date
    amount_in_cents: int
    workspace_id: IntId


# -- Workday ------------------------------------------------------------------------------------
class WdWorker(_Base):
    Worker_ID: Id
    Email: Id
    Hire_Date: date
    Scheduled_Weekly_Hours: Decimal | None = None  # capacity: "40"; optional, but numeric when present
    FTE: Decimal | None = None  # "1.0", "0.5"


class WdOrganization(_Base):
    Organization_ID: Id
    Organization_Name: Id
    Organization_Type: Id


# -- NetSuite -----------------------------------------------------------------------------------
class NetSuiteRecord(_Base):
    """SuiteQL renders every value as a string; `lastmodified` is our TO_CHAR alias."""

    id: Id
    lastmodified: NsDateTime


class NsEntity(NetSuiteRecord):
    entityid: Id


class NsTimeBill(NetSuiteRecord):
    employee: Id
    trandate: Id
    hours: Id


class NsTransaction(NetSuiteRecord):
    type: Id
    trandate: Id
    entity: Id


class NsCurrencyRate(NetSuiteRecord):
    """1 transactioncurrency = exchangerate basecurrency, from effectivedate."""

    basecurrency: Id
    transactioncurrency: Id
    exchangerate: Decimal
    effectivedate: Id


class NsItem(NetSuiteRecord):
    itemid: Id


class NsTransactionLink(_Base):
    """A NextTransactionLineLink row (e.g. a payment applied to an invoice): no id of its own."""

    KEY: ClassVar[tuple[str, ...]] = ("previousdoc", "previousline", "nextdoc", "nextline")
    previousdoc: Id
    previousline: Id
    nextdoc: Id
    nextline: Id
    linktype: Id
    lastmodified: NsDateTime

    @property
    def link_id(self) -> str:
        return ":".join(getattr(self, k) for k in self.KEY)
