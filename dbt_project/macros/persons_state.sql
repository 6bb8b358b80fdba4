{#-
    int_persons' running state: what it has consumed, kept in its table comment so that it is
    committed with the table, in the same transaction (post-hook record_persons_state).

    The state lists, for each staging table upstream of int_persons that has loaded_at, the
    latest loaded_at and the row count at that build, with the scoring date, the DuckDB
    version, a check of the pseudonym key and a fingerprint of the models' code. The next
    build resumes from it (resumable_persons_state) when all of those are the same, no
    table's latest loaded_at went back, and every row up to the recorded one is still there,
    and no other: then the rows after it are exactly the new ones. A row replaced
    (delete+insert of a key), erased or expired, or a row added with an earlier loaded_at
    (a late rights request), changes that count, and every person is computed again. The
    fingerprint covers the models' code, not the macros': after changing a macro they use,
    run a full refresh (the build DAG's conf {"full_refresh": true}).
-#}

{#- Upstream models of a node, depth first (a list of unique ids). -#}
{% macro upstream_models(unique_id, found) -%}
    {%- for parent in graph.nodes[unique_id].depends_on.nodes
        if parent.startswith('model.') and parent not in found -%}
        {%- do found.append(parent) -%}
        {%- do upstream_models(parent, found) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}

{#- The staging tables int_persons reads (upstream, with loaded_at) and a fingerprint of the
    code of every model up to them. Relations by name, not ref(): they are not its parents. -#}
{% macro persons_inputs() -%}
    {%- set code = [model.raw_code] -%}
    {%- set staged = {} -%}
    {%- for unique_id in upstream_models(model.unique_id, []) | sort -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- do code.append(node.raw_code) -%}
        {%- if node.schema == 'staging' and 'loaded_at' in node.columns -%}
            {%- do staged.update({node.name: node.relation_name}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'code': local_md5(code | join('\n') ~ var('adult_age')), 'staged': staged}) }}
{%- endmacro %}

{#- What this build is: the code, the scoring date as the model computes it, DuckDB's version
    and a check of the pseudonym key (a dict, JSON-ready). hash() breaks ties between records
    and may change with DuckDB; the persons' keys change with the secret, and a key of a
    constant text tells the secret apart. -#}
{% macro persons_build(inputs) -%}
    {%- set build = run_query(
        "select cast(" ~ as_of_date() ~ " as varchar), version(), left(socle_hmac('int_persons state'), 16)"
    ).rows[0] -%}
    {{ return({'code': inputs.code, 'as_of': build[0], 'duckdb': build[1], 'key_check': build[2]}) }}
{%- endmacro %}

{#- The state to record: the build, and each staging table's latest loaded_at and row count. -#}
{% macro persons_state() -%}
    {%- set inputs = persons_inputs() -%}
    {%- set query -%}
        {%- for name, relation in inputs.staged.items() %}
        select
            '{{ name }}' as staged_in,
            strftime(max(loaded_at) at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00') as loaded_through,
            count(*) as row_count
        from {{ relation }}
        {{- " union all" if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- set tables = {} -%}
    {%- for row in run_query(query) -%}
        {%- do tables.update({row[0]: {'loaded_through': row[1], 'row_count': row[2] | int}}) -%}
    {%- endfor -%}
    {%- set state = persons_build(inputs) -%}
    {%- do state.update({'tables': tables}) -%}
    {{ return(state) }}
{%- endmacro %}

{#- Post-hook: the state this build consumed, as the table's comment (nothing at parse time). -#}
{% macro record_persons_state() -%}
    {%- if execute -%}
        comment on table {{ this }} is '{{ tojson(persons_state()) }}'
    {%- endif -%}
{%- endmacro %}

{#- The state the last build recorded, when this build can resume from it; else none, and
    the log says why (no personal data: table names and counts). -#}
{% macro resumable_persons_state(quiet=false) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select comment from duckdb_tables()
        where database_name = '{{ this.database }}' and schema_name = '{{ this.schema }}'
            and table_name = '{{ this.identifier }}'
    {%- endset -%}
    {%- set comment = run_query(query).columns[0].values() | first -%}
    {%- set recorded = fromjson(comment) if comment else none -%}
    {%- set inputs = persons_inputs() -%}
    {%- set current = persons_build(inputs) -%}
    {%- set reason = none -%}
    {%- if not (recorded is mapping and 'tables' in recorded) -%}
        {%- set reason = 'no state recorded' -%}
    {%- elif recorded.code != current.code -%}
        {%- set reason = 'the code changed' -%}
    {%- elif recorded.as_of != current.as_of -%}
        {%- set reason = 'the scoring date changed' -%}
    {%- elif recorded.duckdb != current.duckdb or recorded.key_check != current.key_check -%}
        {%- set reason = 'DuckDB or the pseudonym key changed' -%}
    {%- elif recorded.tables.keys() | sort != inputs.staged.keys() | sort -%}
        {%- set reason = 'its staging tables changed' -%}
    {%- else -%}
        {%- set relations = inputs.staged -%}
        {%- set query -%}
            {%- for name, table in recorded.tables.items() %}
            {%- set through = "cast('" ~ table.loaded_through ~ "' as timestamptz)" if table.loaded_through %}
            select
                '{{ name }}',
                count(*) filter (where loaded_at is null {%- if through %} or loaded_at <= {{ through }}{% endif %}),
                {% if through %}coalesce(max(loaded_at) >= {{ through }}, false){% else %}true{% endif %}
            from {{ relations[name] }}
            {{- " union all" if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- set changed = [] -%}
        {%- for row in run_query(query)
            if row[1] | int != recorded.tables[row[0]].row_count or not row[2] -%}
            {%- do changed.append(row[0]) -%}
        {%- endfor -%}
        {%- if changed -%}
            {%- set reason = changed | sort | join(', ') ~ ' changed before its recorded rows' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if not quiet -%}
        {{ log(this.identifier ~ ': ' ~ ('built from every record (' ~ reason ~ ')' if reason else 'resumed'), info=true) }}
    {%- endif -%}
    {{ return(none if reason else recorded) }}
{%- endmacro %}

{#- Pre-hook: an incremental build that cannot resume starts from an empty table, in the same
    transaction, so that it writes every person once and keeps no one who no longer exists. -#}
{% macro forget_persons_unless_resumable() -%}
    {%- if execute and is_incremental() and resumable_persons_state(quiet=true) is none -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- A row of a staging table landed after the recorded state (every row when the table was empty). -#}
{% macro landed_since(state, table) -%}
    {%- set through = state.tables.get(table, {}).get('loaded_through') -%}
    {%- if through -%}
        loaded_at > cast('{{ through }}' as timestamptz)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
