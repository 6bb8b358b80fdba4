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

{#- GDPR rule 2: drop the rows of erased people. Used as two parts of a staging model:

        {{ erased_identifiers('deduplicated', ['email', 'phone']) }},
        final as (select * from deduplicated where {{ not_tombstoned(['email', 'phone']) }})

    erased_identifiers is a CTE of the relation's identifiers whose keyed hash is a tombstone.
    It hashes each *distinct* value once (an e-mail shows up in many rows; 20 M reactions come
    from ~350 k accounts), with the native socle_hmac macro, and is materialised so the
    hashing is not pushed below the distinct. With no tombstone at all (checked when the
    model runs) nothing is hashed. Null identifiers never match. -#}
{% macro erased_identifiers(relation, identifier_columns) -%}
    erased_identifiers as materialized (
        {%- if has_tombstones() %}
        select distinct_identifiers.identifier
        from (
            {%- for column in identifier_columns %}
            select {{ column }} as identifier from {{ relation }}
            {{- " union" if not loop.last }}
            {%- endfor %}
        ) as distinct_identifiers
        where
            distinct_identifiers.identifier != ''
            and socle_hmac(distinct_identifiers.identifier) in (
                select tombstone.identifier_hash from {{ ref('stg_compliance__tombstones') }} as tombstone
            )
        {%- else %}
        select cast(null as varchar) as identifier
        where false
        {%- endif %}
    )
{%- endmacro %}

{% macro not_tombstoned(identifier_columns) -%}
    {%- if has_tombstones() -%}
        {%- for column in identifier_columns %}
        coalesce({{ column }}, '') not in (select erased.identifier from erased_identifiers as erased)
        {{- " and" if not loop.last }}
        {%- endfor %}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Whether any identifier is erased; true when not executing (parse, lint), so the full SQL
    is what gets parsed and linted. -#}
{% macro has_tombstones() -%}
    {%- set tombstones = ref('stg_compliance__tombstones') -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from " ~ tombstones).columns[0].values()[0] -%}
    {{ return(found > 0) }}
{%- endmacro %}

{#- Incremental staging: only the landing rows fetched after the newest row already staged.
    _fetched_at is UTC ISO 8601 (the landing writer's contract), so a string comparison
    matches time order and DuckDB prunes old Parquet row groups by their min/max statistics
    without reading them. A re-run of the same batch is harmless (delete+insert on the key). -#}
{% macro landed_after_last_build() -%}
    {%- if execute and is_incremental() -%}
        {%- set query -%}
            select strftime(max(loaded_at) at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%f') from {{ this }}
        {%- endset -%}
        {%- set watermark = run_query(query).columns[0].values()[0] -%}
        {%- if watermark %}
    where _fetched_at > '{{ watermark }}'
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- E-mail as socle_email normalises it. A value that is already a lower-case ASCII address
    passes as it is (socle_email would return it unchanged); anything else goes through the
    Python UDF, the one definition of an e-mail. -#}
{% macro to_email(column) -%}
    case
        when regexp_full_match({{ column }}, '[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]+') then {{ column }}
        else socle_email({{ column }})
    end
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
