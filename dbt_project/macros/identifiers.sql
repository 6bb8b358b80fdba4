{#- Boolean from what volunteers and connectors write (true/false, oui/non, x). -#}
{% macro to_bool(column) -%}
    case
        when lower(trim({{ column }})) in ('true', 't', '1', 'oui', 'o', 'yes', 'y', 'x') then true
        when lower(trim({{ column }})) in ('false', 'f', '0', 'non', 'n', 'no', '') then false
    end
{%- endmacro %}

{#- ISO 8601 with offset (landing contract) to a UTC timestamptz; unparseable -> null. -#}
{% macro to_utc(column) -%}
    try_cast({{ column }} as timestamptz)
{%- endmacro %}

{#- Keep rows whose identifiers are not erased (GDPR rule 2). Null identifiers never match. -#}
{% macro not_tombstoned(identifier_columns) -%}
    not exists (
        select 1
        from {{ ref('stg_compliance__tombstones') }} as tombstone
        where tombstone.identifier_hash in (
            {%- for column in identifier_columns %}
            socle_hmac({{ column }}){{ "," if not loop.last }}
            {%- endfor %}
        )
    )
{%- endmacro %}

{#- The scoring date: var as_of (ISO date) or today. -#}
{% macro as_of_date() -%}
    {%- if var('as_of', none) -%}
        cast('{{ var("as_of") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}

{#- E.164 phone. Connectors land phones already normalised (contracts §4): a value in E.164
    shape passes as it is, as in the gates; anything else goes through socle_phone
    (phonenumbers, ~220 µs a value: the bottleneck at national scale, docs/benchmarks.md). -#}
{% macro to_e164(column) -%}
    case
        when regexp_full_match(trim({{ column }}), '\+[1-9][0-9]{6,14}') then trim({{ column }})
        else socle_phone({{ column }})
    end
{%- endmacro %}
