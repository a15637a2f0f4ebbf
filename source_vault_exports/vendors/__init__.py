"""The vendors this source can read; a new vendor is a new sub-package plus one line here."""

from typing import List

from source_vault_exports.vendors.base import Vendor
from source_vault_exports.vendors.batch import BATCH
from source_vault_exports.vendors.tape import TAPE
from source_vault_exports.vendors.veeva import VAULT
from source_vault_exports.vendors.zuora import ZUORA

VENDORS: List[Vendor] = [ZUORA, VAULT, BATCH, TAPE]
