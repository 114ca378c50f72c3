"""Pydantic models of the OdooTenant custom resource, version v1alpha1.

These models are the one source of truth for the resource's fields: the CRD in crds/ is
generated from them (api/crd.py), and the operator validates every spec into them before
building anything. Field names are the CRD's camelCase names. CEL rules that the API server
enforces at `kubectl apply` time live next to the field they guard, under `cel(...)`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GROUP = "hosting.odoo-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "OdooTenant"
PLURAL = "odootenants"

# Pod Security Standards are versioned with Kubernetes; pinning makes a cluster upgrade an
# explicit decision instead of a silent change of what "restricted" means.
DEFAULT_POD_SECURITY_VERSION = "v1.37"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$")
_DNS_LABEL_RULE_MESSAGE = "must be a DNS label: lowercase letters, digits and '-'"


def cel(rule: str, message: str, **extra: Any) -> dict[str, Any]:
    """One x-kubernetes-validations entry: a CEL rule and the message a person reads."""
    return {"rule": rule, "message": message, **extra}


def _schema(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = dict(extra)
    if rules:
        schema["x-kubernetes-validations"] = list(rules)
    return schema


QUANTITY_RULE = cel(
    # -0 is a quantity, and not below 0, but no tenant means it.
    "isQuantity(self) && !self.startsWith('-') && !quantity(self).isLessThan(quantity('0')) "
    "&& quantity(self).isLessThan(quantity('1Ei'))",
    "must be a non-negative Kubernetes quantity below 1Ei, such as 500m, 2, 512Mi or 4Gi",
)
# A network address: 10.0.0.1/24 has host bits set, and NetworkPolicy refuses it later, less clearly.
CIDR_RULE = cel(
    "isCIDR(self) && cidr(self) == cidr(self).masked()",
    "must be a CIDR block without host bits, such as 203.0.113.0/24 or 2001:db8::/32",
)
# 0.0.0.0/0 or ::/0 would open egress to everywhere, which the default-deny fence exists to prevent.
NOT_EVERYWHERE_RULE = cel(
    "!isCIDR(self) || cidr(self).prefixLength() > 0",
    "must not be the whole address space (0.0.0.0/0 or ::/0): list the provider's address ranges",
)
# Label keys ([prefix/]name) and values, as the API server checks them on the NetworkPolicy later.
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"


# An empty default on an optional object lets the API server fill in the object's own defaults,
# so `kubectl get -o yaml` shows the effective policy even when the manifest omits it.
_OBJECT_DEFAULT: dict[str, Any] = {"default": {}}


def is_quantity(value: str) -> bool:
    return bool(_QUANTITY.match(value))


def _network(value: str) -> str:
    """CIDR_RULE and NOT_EVERYWHERE_RULE, for what reaches the operator without the CRD."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR block without host bits") from error
    if network.prefixlen == 0:
        raise ValueError(f"{value!r} is the whole address space")
    return value


def _cron_field(value: str) -> str:
    """A cron field: *, a value or a range, with an optional step, comma-separated."""
    item = f"(\\*|{value}(-{value})?)(/(0?[1-9]|[1-9][0-9]))?"  # a step of 0 never fires
    return f"{item}(,{item})*"


_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
_CRON_FIELDS = (
    "([0-5]?[0-9])",  # minute
    "([01]?[0-9]|2[0-3])",  # hour
    "(0?[1-9]|[12][0-9]|3[01]|\\?)",  # day of month
    f"(0?[1-9]|1[0-2]|{_MONTHS})",  # month
    f"([0-6]|{_DAYS}|\\?)",  # day of week: the CronJob controller's parser has no 7 for Sunday
)
CRON_PATTERN = (
    "^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|" + " ".join(_cron_field(f) for f in _CRON_FIELDS) + ")$"
)
# Numeric bounds of the five fields; names (JAN, MON) are left to the CronJob validation.
_CRON_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_DURATION = re.compile(r"^(?:(\d{1,5})h)?(?:(\d{1,5})m)?$")


def cron_problem(expression: str) -> str | None:
    """Why a cron expression is invalid, or None. The CRD checks the shape; this checks ranges."""
    if not re.match(CRON_PATTERN, expression):
        return f"{expression!r} is not a 5-field cron expression {CRON_FIELDS_HELP}"
    if expression.startswith("@"):
        return None
    for field_text, (low, high) in zip(expression.split(" "), _CRON_BOUNDS, strict=True):
        for number in re.findall(r"(?<![/0-9])[0-9]+", field_text):
            if not low <= int(number) <= high:
                return f"{number} is out of range {low}-{high} in {expression!r}"
        # The CRD's pattern cannot compare numbers; the CronJob API refuses a range that runs backwards.
        for first, last in re.findall(r"(?<![/0-9])([0-9]+)-([0-9]+)", field_text):
            if int(first) > int(last):
                return f"range {first}-{last} runs backwards in {expression!r}; write {last}-{first}"
    return None


def _valid_cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def parse_duration(value: str) -> timedelta:
    """A duration written as hours and minutes, such as 26h, 90m or 1h30m."""
    match = _DURATION.match(value)
    if not value or not match:
        raise ValueError(f"{value!r} is not a duration such as 26h or 90m")
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


def _duration_rule(minimum: str) -> dict[str, Any]:
    return cel(
        f"self.matches('^([0-9]{{1,5}}h)?([0-9]{{1,5}}m)?$') && self != '' && duration(self) >= duration('{minimum}')",
        f"must be a duration of at least {minimum} in hours and minutes, such as 26h or 90m",
    )


CRON_FIELDS_HELP = "(minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6) such as '0 2 * * *'"
CRON_RULE = cel(
    f"self.matches('{CRON_PATTERN.replace(chr(92), chr(92) * 2)}')",
    f"must be a 5-field cron expression {CRON_FIELDS_HELP}",
)
TIME_ZONE_RULE = cel(
    "self != 'Local' && self.matches('^[A-Za-z]') && timestamp('2020-01-01T00:00:00Z').getHours(self) >= 0",
    "must be an IANA time zone name such as Europe/Brussels or UTC",
)


class _Model(BaseModel):
    # Unknown fields are pruned by the API server already; ignoring them here keeps an older
    # operator working against a newer CRD during a rolling upgrade.
    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=True)


class Tier(StrEnum):
    shared = "shared"
    dedicated = "dedicated"


class DeletionPolicy(StrEnum):
    Retain = "Retain"
    Delete = "Delete"


class S3Encryption(StrEnum):
    none = ""
    aes256 = "AES256"
    kms = "aws:kms"


class PodSecurityLevel(StrEnum):
    restricted = "restricted"
    baseline = "baseline"


class PodSecurity(_Model):
    """Pod Security admission for the tenant namespace: the level is enforced, audited and warned."""

    level: PodSecurityLevel = Field(
        PodSecurityLevel.restricted,
        description="Pod Security Standard enforced in the namespace: restricted (default) or baseline. "
        "privileged is never allowed for a tenant.",
        json_schema_extra=_schema(
            cel(
                "self != 'privileged'",
                "privileged Pod Security is never allowed for a tenant namespace; use restricted or baseline",
            )
        ),
    )
    version: str = Field(
        DEFAULT_POD_SECURITY_VERSION,
        description="Pod Security Standards version the labels pin, such as v1.37, or latest.",
        json_schema_extra=_schema(
            cel(
                "self == 'latest' || self.matches('^v1\\\\.[0-9]+$')",
                "must be latest or a Kubernetes minor version such as v1.37",
            ),
            maxLength=16,
        ),
    )


class DataService(_Model):
    """A data service the tenant's pods may reach: by CIDR (managed service) or by pod labels."""

    cidr: str | None = Field(
        None,
        description="CIDR of a service outside the cluster, such as a managed PostgreSQL.",
        json_schema_extra=_schema(CIDR_RULE, NOT_EVERYWHERE_RULE, maxLength=64),
    )
    podLabels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        None,
        description="Labels of the service's pods inside the cluster.",
        json_schema_extra=_schema(
            cel(
                f"self.all(k, size(k) <= 317 && k.matches('{LABEL_KEY}'))",
                "label keys must be [prefix/]name: a name of up to 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit, such as app.kubernetes.io/name",
            ),
            cel(
                f"self.all(k, self[k].matches('{LABEL_VALUE}'))",
                "label values must be up to 63 letters, digits, '-', '_' or '.', starting and ending with "
                "a letter or digit",
            ),
            maxProperties=16,
        ),
    )
    namespace: str | None = Field(
        None,
        description="Namespace of the pods selected by podLabels; defaults to the tenant namespace.",
        json_schema_extra=_schema(cel(f"self.matches('{DNS_LABEL}')", _DNS_LABEL_RULE_MESSAGE), maxLength=63),
    )
    port: int = Field(description="TCP port of the service.", ge=1, le=65535)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else _network(value)

    @field_validator("podLabels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, label in (value or {}).items():
            if not re.match(LABEL_KEY, key) or not re.match(LABEL_VALUE, label):
                raise ValueError(f"{key}={label!r} is not a valid label")
        return value


class EgressRule(_Model):
    """Egress to an external integration such as a payment or shipping provider."""

    name: str = Field(
        description="What the integration is, for people reading the policy (payments, shipping, ...).",
        json_schema_extra=_schema(
            cel(f"self.matches('{DNS_LABEL}')", "must be a DNS label: lowercase letters, digits and '-'"),
            maxLength=40,
        ),
    )
    cidr: str = Field(
        description="Destination CIDR block; not the whole address space.",
        json_schema_extra=_schema(CIDR_RULE, NOT_EVERYWHERE_RULE, maxLength=64),
    )
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=lambda: [443],
        description="Destination TCP ports (default 443); at least one, since none would mean every port.",
        json_schema_extra=_schema(minItems=1, maxItems=16, **{"x-kubernetes-list-type": "set"}),
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _network(value)


class NetworkPolicySpec(_Model):
    """Network posture: everything is denied in and out except what is listed here, plus DNS."""

    ingressControllerNamespace: str = Field(
        "traefik",
        description="Namespace of the ingress controller allowed to reach Odoo on ports 8069 and 8072.",
        json_schema_extra=_schema(cel(f"self.matches('{DNS_LABEL}')", _DNS_LABEL_RULE_MESSAGE), maxLength=63),
    )
    postgres: DataService | None = Field(
        None,
        description="The tenant's PostgreSQL server, reachable from the namespace.",
        json_schema_extra=_schema(cel("has(self.cidr) != has(self.podLabels)", "set exactly one of cidr or podLabels")),
    )
    redis: DataService | None = Field(
        None,
        description="The tenant's Redis server, reachable from the namespace.",
        json_schema_extra=_schema(cel("has(self.cidr) != has(self.podLabels)", "set exactly one of cidr or podLabels")),
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        description="Extra egress destinations for payment, shipping and other integrations.",
        json_schema_extra=_schema(
            cel("self.all(a, self.exists_one(b, a.name == b.name))", "egress names must be unique"),
            maxItems=32,
        ),
    )


def _quantity_field(default: str, description: str) -> Any:
    return Field(default, description=description, json_schema_extra=_schema(QUANTITY_RULE, maxLength=32))


class Quota(_Model):
    """Namespace ResourceQuota: the most the tenant can request in total."""

    cpu: str = _quantity_field("4", "Total CPU requests and limits, such as 4 or 3500m.")
    memory: str = _quantity_field("8Gi", "Total memory requests and limits, such as 8Gi.")
    storage: str = _quantity_field("50Gi", "Total storage requested by PersistentVolumeClaims.")
    pods: int = Field(30, description="Most pods the namespace may hold.", ge=1, le=10000)
    persistentVolumeClaims: int = Field(10, description="Most PersistentVolumeClaims.", ge=0, le=1000)

    @field_validator("cpu", "memory", "storage")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not is_quantity(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity")
        return value


LIMITS_RULES = [
    # Skipped when a field is not a quantity: that field's own rule says so.
    cel(f"!isQuantity(self.{big}) || !isQuantity(self.{small}) || "
        f"quantity(self.{big}).compareTo(quantity(self.{small})) >= 0", f"{small} must not exceed {big}")
    for big, small in (("maxCpu", "defaultCpu"), ("defaultCpu", "defaultRequestCpu"),
                       ("maxMemory", "defaultMemory"), ("defaultMemory", "defaultRequestMemory"))
]  # fmt: skip


class Limits(_Model):
    """Namespace LimitRange: per-container defaults and ceilings."""

    defaultCpu: str = _quantity_field("500m", "CPU limit of a container that sets none.")
    defaultMemory: str = _quantity_field("1Gi", "Memory limit of a container that sets none.")
    defaultRequestCpu: str = _quantity_field("100m", "CPU request of a container that sets none.")
    defaultRequestMemory: str = _quantity_field("256Mi", "Memory request of a container that sets none.")
    maxCpu: str = _quantity_field("2", "Largest CPU limit one container may set.")
    maxMemory: str = _quantity_field("4Gi", "Largest memory limit one container may set.")

    @field_validator("*")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not is_quantity(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity")
        return value


class Isolation(_Model):
    """Where the tenant lives and how it is fenced off from everything else."""

    namespace: str = Field(
        description="Namespace created for the tenant; must not be default or kube-*. Immutable once the "
        "tenant holds it (status.namespace is set); until then it may be changed, for example after a conflict.",
        json_schema_extra=_schema(
            cel(
                f"self.matches('{DNS_LABEL}')",
                "must be a valid DNS label: lowercase letters, digits and '-', "
                "starting and ending with a letter or digit",
            ),
            cel(
                "self != 'default' && !self.startsWith('kube-')",
                "must not be a system namespace (default or kube-*)",
            ),
            maxLength=63,
        ),
    )
    podSecurity: PodSecurity = Field(
        default_factory=PodSecurity, description=PodSecurity.__doc__, json_schema_extra=_OBJECT_DEFAULT
    )
    networkPolicy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description=NetworkPolicySpec.__doc__,
        json_schema_extra=_OBJECT_DEFAULT,
    )
    quota: Quota = Field(default_factory=Quota, description=Quota.__doc__, json_schema_extra=_OBJECT_DEFAULT)
    limits: Limits = Field(
        default_factory=Limits,
        description=Limits.__doc__,
        json_schema_extra=_schema(*LIMITS_RULES, default=Limits().model_dump()),
    )
    nodePool: str | None = Field(
        None,
        description="Dedicated tier only: node pool (value of the node label "
        "hosting.odoo-operator.io/pool) the namespace's pods are pinned to.",
        json_schema_extra=_schema(
            cel(f"self.matches('{DNS_LABEL}')", "must be a DNS label: lowercase letters, digits and '-'"),
            maxLength=63,
        ),
    )

    # The CRD's CEL rules guard kubectl; these guard what reaches the operator another way (the
    # last-valid-spec annotation), so no path enforces a namespace the CRD would refuse.
    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not re.match(DNS_LABEL, value) or len(value) > 63:
            raise ValueError(f"{value!r} is not a DNS label")
        if value == "default" or value.startswith("kube-"):
            raise ValueError(f"{value!r} is a system namespace")
        return value


class Access(_Model):
    """Who administers the tenant. They get a role that cannot weaken the tenant's controls."""

    adminUsers: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        description="User names bound to the restricted tenant-admin role in the namespace.",
        json_schema_extra=_schema(
            cel("self.all(u, !u.startsWith('system:'))", "system: users are Kubernetes' own, never tenant admins"),
            maxItems=64,
            **{"x-kubernetes-list-type": "set"},
        ),
    )
    adminGroups: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        description="Group names bound to the restricted tenant-admin role in the namespace.",
        json_schema_extra=_schema(
            cel(
                "self.all(g, !g.startsWith('system:'))",
                "system: groups (system:masters, system:authenticated, ...) are never tenant admins",
            ),
            maxItems=64,
            **{"x-kubernetes-list-type": "set"},
        ),
    )

    @field_validator("adminUsers", "adminGroups")
    @classmethod
    def _not_system(cls, value: list[str]) -> list[str]:
        for subject in value:
            if subject.startswith("system:"):
                raise ValueError(f"{subject!r}: system: users and groups are never tenant admins")
        return value


DEFAULT_BACKUP_IMAGE = "ghcr.io/odoo-tenant-operator/odoo-tenant-operator:0.1.0"


class S3Target(_Model):
    """An S3-compatible bucket. Credentials come from a Secret, never from the spec."""

    endpoint: str = Field(
        description="Endpoint URL, such as https://s3.eu-west-1.amazonaws.com or http://minio.storage:9000.",
        json_schema_extra=_schema(
            cel("self.startsWith('https://') || self.startsWith('http://')", "must be an http:// or https:// URL"),
            maxLength=256,
        ),
    )
    bucket: str = Field(
        description="Bucket name.",
        json_schema_extra=_schema(
            cel(
                "self.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')",
                "must be an S3 bucket name: 3-63 lowercase letters, digits, '.' or '-', starting and ending "
                "with a letter or digit, such as odoo-backups",
            ),
            maxLength=63,
        ),
    )
    prefix: str | None = Field(
        None, description="Key prefix; defaults to the tenant name.", json_schema_extra=_schema(maxLength=256)
    )
    region: str = Field(
        "us-east-1", description="Region sent to the endpoint.", json_schema_extra=_schema(maxLength=64)
    )
    credentialsSecret: str = Field(
        description="Secret in the tenant namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
        json_schema_extra=_schema(maxLength=253),
    )
    serverSideEncryption: S3Encryption = Field(
        S3Encryption.none, description="Server-side encryption requested on upload: empty (none), AES256 or aws:kms."
    )
    objectLockDays: int | None = Field(
        None, description="Object-lock retention set on uploads when the bucket has object lock enabled.",
        ge=1, le=3650,
    )  # fmt: skip
    egressCIDR: str = Field(
        description="CIDR of the endpoint, which the backup pods' NetworkPolicy allows and nothing else.",
        json_schema_extra=_schema(CIDR_RULE, NOT_EVERYWHERE_RULE, maxLength=64),
    )
    port: int = Field(443, description="TCP port of the endpoint.", ge=1, le=65535)

    @field_validator("egressCIDR")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _network(value)


class VolumeTarget(_Model):
    """A PersistentVolumeClaim in the tenant namespace that holds the backups."""

    claimName: str = Field(description="Name of the PersistentVolumeClaim.", json_schema_extra=_schema(maxLength=253))


class BackupTarget(_Model):
    """Where backups go: exactly one of s3 or volume."""

    s3: S3Target | None = Field(None, description=S3Target.__doc__)
    volume: VolumeTarget | None = Field(None, description=VolumeTarget.__doc__)


class Retention(_Model):
    """Which backups prune keeps: the last N plus the newest of each recent day, week and month."""

    keepLast: int = Field(7, description="Most recent backups always kept (at least 1).", ge=1, le=1000)
    keepDaily: int = Field(7, description="Days for which the newest backup is kept.", ge=0, le=1000)
    keepWeekly: int = Field(4, description="Weeks for which the newest backup is kept.", ge=0, le=1000)
    keepMonthly: int = Field(6, description="Months for which the newest backup is kept.", ge=0, le=1000)


class DatabaseRef(_Model):
    """The tenant's PostgreSQL database, reached with credentials from a Secret."""

    secretName: str = Field(
        description="Secret in the tenant namespace with keys host, port, dbname, user and password.",
        json_schema_extra=_schema(maxLength=253),
    )


class RestoreTest(_Model):
    """A regular job that restores the latest backup into a scratch database and checks it."""

    schedule: str = Field(
        "30 4 * * 0", description="Cron schedule of the restore test (default weekly, Sunday 04:30).",
        json_schema_extra=_schema(CRON_RULE, maxLength=128),
    )  # fmt: skip
    maxAge: str = Field(
        "192h", description="BKP-RESTORE fails when the last successful restore test is older than this.",
        json_schema_extra=_schema(_duration_rule("1h"), maxLength=16),
    )  # fmt: skip
    rto: str = Field(
        "1h", description="Recovery time objective: a restore test slower than this fails.",
        json_schema_extra=_schema(_duration_rule("1m"), maxLength=16),
    )  # fmt: skip

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _valid_cron(value)


class Backup(_Model):
    """Scheduled backups of the database and filestore, kept by retention and proven by restore tests."""

    schedule: str = Field(
        "0 2 * * *", description="Cron schedule of the backup (default daily at 02:00).",
        json_schema_extra=_schema(CRON_RULE, maxLength=128),
    )  # fmt: skip
    timeZone: str = Field(
        "UTC", description="IANA time zone of both schedules, such as Europe/Brussels.",
        json_schema_extra=_schema(TIME_ZONE_RULE, maxLength=64),
    )  # fmt: skip
    rpo: str = Field(
        "26h", description="Recovery point objective: BKP-RPO fails when the last good backup is older.",
        json_schema_extra=_schema(_duration_rule("1h"), maxLength=16),
    )  # fmt: skip
    retention: Retention = Field(
        default_factory=Retention, description=Retention.__doc__, json_schema_extra=_OBJECT_DEFAULT
    )
    target: BackupTarget = Field(
        description=BackupTarget.__doc__,
        json_schema_extra=_schema(cel("has(self.s3) != has(self.volume)", "set exactly one of s3 or volume")),
    )
    database: DatabaseRef = Field(description=DatabaseRef.__doc__)
    filestoreClaim: str = Field(
        description="PersistentVolumeClaim holding Odoo's filestore; mounted read-only for backups.",
        json_schema_extra=_schema(maxLength=253),
    )
    image: str = Field(
        DEFAULT_BACKUP_IMAGE,
        description="Image with the odoo-tenant-backup tool.",
        json_schema_extra=_schema(maxLength=512),
    )
    restoreTest: RestoreTest = Field(
        default_factory=RestoreTest, description=RestoreTest.__doc__, json_schema_extra=_OBJECT_DEFAULT
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _valid_cron(value)

    @field_validator("timeZone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not an IANA time zone") from error
        return value

    @field_validator("rpo")
    @classmethod
    def _rpo(cls, value: str) -> str:
        parse_duration(value)
        return value


class OdooTenantSpec(_Model):
    """Desired isolation, access and lifecycle policy of one Odoo tenant."""

    tier: Tier = Field(
        description="shared: a tenant of the multi-tenant platform; dedicated: its own node pool.",
    )
    isolation: Isolation = Field(description=Isolation.__doc__)
    access: Access = Field(default_factory=Access, description=Access.__doc__, json_schema_extra=_OBJECT_DEFAULT)
    backup: Backup | None = Field(None, description=Backup.__doc__)
    deletionPolicy: DeletionPolicy = Field(
        DeletionPolicy.Retain,
        description="Retain (default): deleting the tenant orphans its namespace and data. "
        "Delete: the namespace and everything in it are garbage-collected.",
    )

    @model_validator(mode="after")
    def _node_pool_for_dedicated(self) -> OdooTenantSpec:
        if (self.tier == Tier.dedicated) != (self.isolation.nodePool is not None):
            raise ValueError(SPEC_RULES[0]["message"])
        return self


SPEC_RULES = [
    cel(
        "self.tier == 'dedicated' ? has(self.isolation.nodePool) : !has(self.isolation.nodePool)",
        "isolation.nodePool is required for tier dedicated and not allowed for tier shared",
    ),
]

# Rules on the whole object: they need the stored status, which a rule on spec cannot see.
# A tenant that never got its namespace (a conflict) may move to another one; once it holds one,
# moving would leave the old namespace and its data behind.
# The tenant's name is a label value on every child, so it must fit in 63 characters.
NAME_RULE = cel("size(self) <= 63", "must be at most 63 characters: the tenant's name is a label value on every child")

OBJECT_RULES = [
    cel(
        "!has(oldSelf.status) || !has(oldSelf.status.__namespace__) || "
        "self.spec.isolation.__namespace__ == oldSelf.spec.isolation.__namespace__",
        "is immutable once the tenant holds it (status.namespace): create a new tenant to move it",
        fieldPath=".spec.isolation.namespace",
        reason="FieldValueForbidden",
    ),
]


class ControlStatus(StrEnum):
    Pass = "Pass"
    Fail = "Fail"
    Exempt = "Exempt"
    Unknown = "Unknown"


class Condition(_Model):
    """A Kubernetes-convention condition."""

    type: str = Field(description="Ready, Compliant or Degraded.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word a program can match.")
    message: str = Field("", description="What a person should know or do.")
    lastTransitionTime: datetime = Field(description="When status last changed.")
    observedGeneration: int = Field(0, description="The spec generation this condition describes.")


class ControlResult(_Model):
    """The verdict on one control of the catalogue."""

    id: str = Field(description="Control id from the catalogue, such as ISO-NETPOL-DENY.")
    family: str = Field(description="isolation, access, backup or ingress.")
    status: ControlStatus = Field(description="Pass, Fail, Exempt or Unknown.")
    reason: str = Field(description="One CamelCase word a program can match.")
    message: str = Field("", description="What was observed.")
    lastTransitionTime: datetime = Field(description="When status last changed.")


class JobOutcome(_Model):
    """The most recent finished run of a backup or restore-test job."""

    time: datetime | None = Field(None, description="When the last run finished.")
    outcome: str | None = Field(None, description="Succeeded or Failed.")
    job: str | None = Field(None, description="Name of the Job.")
    lastSuccessTime: datetime | None = Field(None, description="When the last successful run finished.")


class OdooTenantStatus(_Model):
    """Observed state of the tenant, written by the operator."""

    observedGeneration: int | None = Field(None, description="The spec generation last reconciled.")
    namespace: str | None = Field(None, description="The tenant's namespace.")
    score: int | None = Field(None, description="Share of applicable controls that pass, 0-100.", ge=0, le=100)
    lastBackup: JobOutcome | None = Field(None, description="The latest backup run.")
    lastRestoreTest: JobOutcome | None = Field(None, description="The latest restore-test run.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Compliant and Degraded, readable by kstatus and Argo CD.",
        json_schema_extra=_schema(**{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
    )
    controls: list[ControlResult] = Field(
        default_factory=list,
        description="One verdict per control of the catalogue.",
        json_schema_extra=_schema(**{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]}),
    )
