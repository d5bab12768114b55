"""The zstd dictionary entries are compressed with: Zuora-shaped JSON, built at import.

A cached body is a small JSON document (an account is ~1.5 KB) whose field names are most of
its bytes; zstd on its own only learns them from the document itself. A *raw-content*
dictionary primes the compressor with the shapes documented in zuora-api.md §4.1 (field names
from the zuora-sdk models, in the order Zuora sends them), so those names cost a few bits each.

Honest limits: the shapes are Zuora's *documented* ones, the same the fake Zuora
(``zproxy.testing.fake_zuora``) renders, so the benchmarks compress better than real traffic
may (real tenants add custom fields, other endpoints, other value spellings). A body the
dictionary does not fit still round-trips; it just compresses like plain zstd.

``DICT_ID`` is written in every entry: bump it whenever ``SHAPES`` (or its serialization)
changes, so entries written with the old dictionary become clean misses instead of garbage
(``tests/unit/store/test_zdict.py`` pins the content's hash to the id).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

#: 1..255; 0 in an entry means "no dictionary".
DICT_ID: Final = 1

_ID = "00000000000000000000000000000000"
_TS = "2024-01-01T00:00:00+00:00"
_DAY = "2024-01-01"


def _contact() -> dict[str, Any]:
    return {
        "id": _ID, "firstName": "", "lastName": "", "workEmail": "@example.com",
        "personalEmail": None, "workPhone": None, "address1": " Main Street", "address2": None,
        "city": "", "state": "", "county": None, "country": "US", "zipCode": "",
        "taxRegion": None,
    }  # fmt: skip


def _charge() -> dict[str, Any]:
    return {
        "id": _ID, "number": "C-00000000", "name": "", "type": "Recurring", "model": "PerUnit",
        "quantity": 1, "price": 0.0, "tiers": None, "uom": "Seat", "billingPeriod": "Annual",
        "effectiveStartDate": _DAY, "effectiveEndDate": _DAY, "chargedThroughDate": None,
        "segment": 1, "version": 1, "mrr": 0.0, "tcv": 0.0, "productRatePlanChargeId": _ID,
    }  # fmt: skip


def _subscription() -> dict[str, Any]:
    return {
        "id": _ID, "subscriptionNumber": "A-S00000000", "version": 1, "revision": "1.0",
        "isLatestVersion": True, "status": "Active", "accountId": _ID,
        "accountNumber": "A00000000", "accountName": "", "invoiceOwnerAccountId": _ID,
        "invoiceOwnerAccountNumber": "A00000000", "invoiceOwnerAccountName": "",
        "termType": "TERMED", "initialTerm": 12, "initialTermPeriodType": "Month",
        "currentTerm": 12, "currentTermPeriodType": "Month", "renewalTerm": 12,
        "renewalTermPeriodType": "Month", "renewalSetting": "RENEW_WITH_SPECIFIC_TERM",
        "autoRenew": True, "termStartDate": _DAY, "termEndDate": _DAY,
        "subscriptionStartDate": _DAY, "subscriptionEndDate": None,
        "contractEffectiveDate": _DAY, "serviceActivationDate": _DAY,
        "customerAcceptanceDate": _DAY, "cancelledDate": None, "orderNumber": None,
        "currency": "USD", "notes": None, "createTime": _TS, "updateTime": _TS,
        "ratePlans": [{
            "id": _ID, "productId": _ID, "productName": "", "productSku": "SKU-00000000",
            "productRatePlanId": _ID, "productRatePlanNumber": "PRP-00000000",
            "ratePlanName": "", "lastChangeType": "Add", "ratePlanCharges": [_charge()],
        }],
        "contractedMrr": 0.0, "totalContractedValue": 0.0,
        "statusHistory": [{"status": "Active", "startDate": _DAY}],
    }  # fmt: skip


def _product() -> dict[str, Any]:
    return {
        "id": _ID, "sku": "SKU-00000000", "productNumber": "PC-00000000", "name": "",
        "description": "", "category": "Base Products", "effectiveStartDate": _DAY,
        "effectiveEndDate": "2099-12-31", "tags": None, "productFeatures": [],
        "productRatePlans": [{
            "id": _ID, "productRatePlanNumber": "PRP-00000000", "name": "", "description": "",
            "status": "Active", "grade": None, "effectiveStartDate": _DAY,
            "effectiveEndDate": "2099-12-31",
            "productRatePlanCharges": [{
                "id": _ID, "name": "", "type": "Recurring", "model": "PerUnit",
                "billingPeriod": "Annual", "billingTiming": "IN_ADVANCE", "defaultQuantity": 1,
                "uom": "Seat", "pricingSummary": ["USD0/Seat"],
                "pricing": [{
                    "currency": "USD", "price": 0.0, "tiers": [], "includedUnits": None,
                    "overagePrice": None, "discountAmount": None, "discountPercentage": None,
                }],
            }],
        }],
    }  # fmt: skip


def _summary() -> dict[str, Any]:
    return {
        "success": True,
        "basicInfo": {
            "id": _ID, "accountNumber": "A00000000", "name": "", "status": "Active",
            "balance": 0.0, "currency": "USD", "billCycleDay": 1, "autoPay": True,
            "crmId": None, "tags": None, "salesRep": None,
            "defaultPaymentMethod": {
                "id": _ID, "paymentMethodType": "CreditCard", "creditCardNumber": "************",
                "creditCardType": "Visa", "creditCardExpirationMonth": 1,
                "creditCardExpirationYear": 2030,
            },
            "lastInvoiceDate": _DAY, "lastPaymentAmount": 0.0, "lastPaymentDate": _DAY,
        },
        "billToContact": _contact(), "soldToContact": _contact(), "taxInfo": None,
        "subscriptions": [{
            "id": _ID, "subscriptionNumber": "A-S00000000", "status": "Active",
            "termType": "TERMED", "termStartDate": _DAY, "termEndDate": _DAY,
            "subscriptionStartDate": _DAY, "initialTerm": 12, "renewalTerm": 12,
            "autoRenew": True,
            "ratePlans": [{
                "productId": _ID, "productName": "", "productSku": "SKU-00000000",
                "productRatePlanId": _ID, "ratePlanName": "",
            }],
        }],
        "invoices": [{
            "id": _ID, "invoiceNumber": "INV00000000", "invoiceDate": _DAY, "dueDate": _DAY,
            "amount": 0.0, "balance": 0.0, "status": "Posted",
        }],
        "payments": [{
            "id": _ID, "paymentNumber": "P-00000000", "paymentType": "Electronic",
            "effectiveDate": _DAY, "status": "Processed",
            "paidInvoices": [{
                "invoiceId": _ID, "invoiceNumber": "INV00000000", "appliedPaymentAmount": 0.0,
            }],
        }],
        "usage": [{"unitOfMeasure": "", "quantity": 0.0, "startDate": _DAY}],
    }  # fmt: skip


def _account() -> dict[str, Any]:
    return {
        "success": True,
        "basicInfo": {
            "id": _ID, "accountNumber": "A00000000", "name": "", "status": "Active",
            "batch": "Batch1", "crmId": None, "notes": None, "parentId": None,
            "salesRep": None, "tags": None, "invoiceTemplateId": None,
            "communicationProfileId": None, "defaultPaymentMethodId": _ID,
            "lastMetricsUpdate": _TS, "sequenceSetId": None,
        },
        "billingAndPayment": {
            "billCycleDay": 1, "currency": "USD", "paymentTerm": "Net 30",
            "paymentGateway": None, "autoPay": True, "defaultPaymentMethodId": _ID,
            "invoiceDeliveryPrefsEmail": True, "invoiceDeliveryPrefsPrint": False,
            "additionalEmailAddresses": [],
        },
        "metrics": {
            "balance": 0.0, "currency": "USD", "contractedMrr": 0.0, "creditBalance": 0.0,
            "totalInvoiceBalance": 0.0, "totalDebitMemoBalance": 0.0,
            "unappliedPaymentAmount": 0.0, "unappliedCreditMemoAmount": 0.0,
            "reservedPaymentAmount": 0.0,
        },
        "billToContact": _contact(), "soldToContact": _contact(), "shipToContact": _contact(),
        "taxInfo": None,
    }  # fmt: skip


def _fragments() -> list[Any]:
    """Smaller documents: errors, lists, payment methods, ZOQL, and entry metadata."""
    return [
        {"success": True, "subscriptions": [], "nextPage": None},
        {"success": True, "nextPage": None, "products": []},
        {"records": [{"Id": _ID, "Name": ""}], "size": 1, "done": True},
        {
            "success": True, "defaultPaymentMethodId": _ID,
            "creditcard": [{
                "id": _ID, "accountId": _ID, "type": "CreditCard", "status": "Active",
                "isDefault": True, "cardNumber": "************", "cardType": "Visa",
                "expirationMonth": 1, "expirationYear": 2030,
                "cardHolderInfo": {"cardHolderName": ""}, "createdOn": _TS,
            }],
        },
        {
            "success": False, "processId": "0000000000000000",
            "requestId": "00000000-0000-0000-0000-000000000000",
            "reasons": [{"code": 50000040, "message": "Cannot find entity by key: ''."}],
        },
    ]  # fmt: skip


def _metas() -> list[Any]:
    """Entry metadata as ``zproxy.store.codec`` writes it before the body."""
    json_type = ["Content-Type", "application/json"]
    utf8_type = ["Content-Type", "application/json; charset=utf-8"]
    return [
        [200, 1700000000.0, [utf8_type], ["subscription:A-S00000000"]],
        [200, 1700000000.0, [json_type], ["catalog"]],
        [404, 1700000000.0, [json_type], ["account:A00000000"]],
        [200, 1700000000.0, [json_type], ["account:A00000000"]],
    ]


def _content() -> bytes:
    # zstd reaches later bytes with shorter offsets: the commonest shapes go last.
    docs: list[Any] = [
        *_fragments(),
        {"success": True, "nextPage": None, "products": [_product()]},
        {"success": True, "subscriptions": [_subscription()], "nextPage": None},
        _summary(),
        _account(),
        *_metas(),
    ]
    return b"".join(orjson.dumps(doc) for doc in docs)


#: The dictionary's bytes (deterministic: the same on every import and every host).
CONTENT: Final = _content()
