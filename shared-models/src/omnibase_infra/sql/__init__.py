"""PostgreSQL SQL, lexed the way the server lexes it: literal sanitizing for logs and spans,
statement analysis and validation for the Postgres node, identifier quoting.

Standard library and pydantic only; no database driver.
"""

from omnibase_infra.sql.analysis import (
    MODIFYING_ACCESS,
    EnumSqlAccess,
    ModelSqlAccessNeed,
    ModelStatementInfo,
    describe_statements,
    is_data_modifying,
    split_statements,
    statement_kind,
)
from omnibase_infra.sql.functions import (
    RESTRICTED_FUNCTION_PREFIXES,
    RESTRICTED_FUNCTIONS,
    function_access,
)
from omnibase_infra.sql.lexer import (
    LITERAL_KINDS,
    RESERVED_KEYWORDS,
    EnumSqlTokenKind,
    Token,
    quoted_identifier_name,
    tokenize,
)
from omnibase_infra.sql.quoting import (
    MAX_IDENTIFIER_BYTES,
    quote_identifier,
    quote_qualified_name,
)
from omnibase_infra.sql.sanitize import (
    PLACEHOLDER,
    ModelSanitizedStatement,
    analyze_sql,
    sanitize_sql,
)
from omnibase_infra.sql.validation import READ_ONLY, READ_WRITE, validate_statement

__all__ = [
    "LITERAL_KINDS",
    "MAX_IDENTIFIER_BYTES",
    "MODIFYING_ACCESS",
    "PLACEHOLDER",
    "READ_ONLY",
    "READ_WRITE",
    "RESERVED_KEYWORDS",
    "RESTRICTED_FUNCTIONS",
    "RESTRICTED_FUNCTION_PREFIXES",
    "EnumSqlAccess",
    "EnumSqlTokenKind",
    "ModelSanitizedStatement",
    "ModelSqlAccessNeed",
    "ModelStatementInfo",
    "Token",
    "analyze_sql",
    "describe_statements",
    "function_access",
    "is_data_modifying",
    "quote_identifier",
    "quote_qualified_name",
    "quoted_identifier_name",
    "sanitize_sql",
    "split_statements",
    "statement_kind",
    "tokenize",
    "validate_statement",
]
