{#-
    The running state of a model that computes again only what new staged rows may have
    changed (int_identity, int_identity_conflicts, int_persons, int_consent_current,
    consent_state_history, fct_engagement, social_accounts_watch). It is
    kept in the model's table comment, so that it is committed with the table, in the same
    transaction (post-hook record_resume_state).

    The state lists, for each staging table upstream of the model that has loaded_at, the
    latest loaded_at and the row count at that build, with the scoring date (when the code
    reads it), the DuckDB version, a check of the pseudonym key and a fingerprint of the
    code (the models and seeds upstream, the project's macros and the vars the code reads). The next build resumes from it (resumable_state) when all of those are the
    same, no table's latest loaded_at went back, and every row up to the recorded one is
    still there, and no other: then the rows after it are exactly the new ones. A row
    erased or expired, or a row added with an earlier loaded_at (a late rights request),
    changes that count, and the model computes everything again. So does a row replaced
    (delete+insert of a key), but in the record tables that keep their versions
    (macros/record_versions.sql): there a record re-delivered with the identifiers it had at
    the state is one more new row, and one with other identifiers makes the model compute
    everything. A model can list in meta replaced_rows_are_new the tables where a
    replaced row is one more new row to it (the social rows, which keep their author), and
    in meta new_rows_rebuild those whose new rows make it compute everything. A resuming
    model upstream that was not built since rows were staged (a --select by hand) would show
    the model stale rows it then takes as consumed: the model computes everything and records
    no tables, so its next build computes everything too. A model kept through a full
    refresh (the consent history) computes everything on one.
-#}

{#- Upstream models and seeds of a node, depth first (a list of unique ids). -#}
{% macro upstream_nodes(unique_id, found) -%}
    {%- for parent in graph.nodes[unique_id].depends_on.nodes
        if parent.split('.')[0] in ('model', 'seed') and parent not in found -%}
        {%- do found.append(parent) -%}
        {%- do upstream_nodes(parent, found) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}

{#- The staging tables the model reads (upstream, with loaded_at) and a fingerprint of its
    code: the code of every model up to them, the seeds' contents, every macro of the
    project, and the value of each var that code reads. Every macro, not those the models
    call: a model's macros are known only once it is compiled (a macro called in a branch
    not taken at parse time is missing before), and dbt's graph carries no macros, so each
    is found in the context. Relations by name, not ref(): they need not be its parents. -#}
{% macro resume_inputs() -%}
    {%- set code = [model.raw_code] -%}
    {%- set staged = {} -%}
    {%- set versioned = [] -%}
    {%- for unique_id in upstream_nodes(model.unique_id, []) | sort -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- if node.resource_type == 'seed' -%}
            {%- do code.append(unique_id ~ ' ' ~ node.checksum.checksum) -%}
        {%- else -%}
            {%- do code.append(node.raw_code) -%}
        {%- endif -%}
        {%- if node.schema == 'staging' and 'loaded_at' in node.columns -%}
            {%- do staged.update({node.name: node.relation_name}) -%}
            {%- if 'identified_at' in node.columns -%}
                {%- do versioned.append(node.name) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {#- The scoring date matters only where the models upstream, or a macro, read it (its
        own definition and this file's macros aside). A list, not a flag: a variable set
        inside a loop does not outlive it. -#}
    {%- set dated = ['as_of_date()' in code | join('\n')] -%}
    {%- for name in context.keys() | sort -%}
        {%- set found = context[name].macro -%}
        {%- if found is defined and found.package_name == project_name -%}
            {%- do code.append(found.macro_sql) -%}
            {%- if 'as_of_date()' in found.macro_sql and name != 'as_of_date'
                and found.original_file_path != 'macros/resume_state.sql' -%}
                {%- do dated.append(true) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in modules.re.findall("var\(\s*['\"](\w+)['\"]", code | join('\n')) | unique | sort
        if name != 'as_of' -%}
        {%- do code.append(name ~ '=' ~ var(name, none)) -%}
    {%- endfor -%}
    {{ return({
        'code': local_md5(code | join('\n')), 'staged': staged, 'versioned': versioned, 'dated': true in dated,
    }) }}
{%- endmacro %}

{#- What this build is: the code, the scoring date as the model computes it (none when its
    code does not read it), DuckDB's version and a check of the pseudonym key (a dict,
    JSON-ready). hash() breaks ties between records and may change with DuckDB; keys change
    with the secret, and a key of a constant text tells the secret apart. -#}
{% macro resume_build(inputs) -%}
    {%- set as_of = "cast(" ~ as_of_date() ~ " as varchar)" if inputs.dated else "null" -%}
    {%- set build = run_query(
        "select " ~ as_of ~ ", version(), left(socle_hmac('socle resume state'), 16)"
    ).rows[0] -%}
    {{ return({'code': inputs.code, 'as_of': build[0], 'duckdb': build[1], 'key_check': build[2]}) }}
{%- endmacro %}

{#- Each staging table's latest loaded_at and row count, now (a dict by table name). -#}
{% macro staged_tables(staged) -%}
    {%- set query -%}
        {%- for name, relation in staged.items() %}
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
    {{ return(tables) }}
{%- endmacro %}

{#- The resuming models upstream that have not taken every row staged now (they were not
    built since): a model reading them would take rows as consumed that they do not show
    yet. Their names, from the state in their comments. -#}
{% macro upstream_behind(tables) -%}
    {%- set resuming = {} -%}
    {%- for unique_id in upstream_nodes(model.unique_id, []) -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- if node.resource_type == 'model' and 'record_resume_state()' in node.raw_code -%}
            {%- do resuming.update({node.schema ~ '.' ~ node.alias: node.name}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set behind = [] -%}
    {%- if resuming -%}
        {%- set query -%}
            select schema_name || '.' || table_name, comment from duckdb_tables()
            where database_name = '{{ this.database }}'
                and schema_name || '.' || table_name in ('{{ resuming.keys() | join("', '") }}')
        {%- endset -%}
        {%- set comments = {} -%}
        {%- for row in run_query(query) -%}
            {%- do comments.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- for relation, name in resuming.items() -%}
            {%- set upstream = fromjson(comments[relation]) if comments.get(relation) else none -%}
            {%- if not (upstream is mapping and upstream.get('tables') is mapping) -%}
                {%- do behind.append(name) -%}
            {%- else -%}
                {%- for table, taken in upstream.tables.items() if tables.get(table) != taken -%}
                    {%- do behind.append(name) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(behind | unique | sort) }}
{%- endmacro %}

{#- The state to record: the build, and each staging table's latest loaded_at and row count;
    no tables when a resuming model upstream is behind, so that the next build computes
    everything (it would otherwise take the rows that model did not show as consumed). -#}
{% macro resume_state() -%}
    {%- set inputs = resume_inputs() -%}
    {%- set tables = staged_tables(inputs.staged) -%}
    {%- set state = resume_build(inputs) -%}
    {%- if upstream_behind(tables) -%}
        {%- do state.update({'tables': none}) -%}
    {%- else -%}
        {%- do state.update({'tables': tables}) -%}
    {%- endif -%}
    {{ return(state) }}
{%- endmacro %}

{#- Post-hook: the state this build consumed, as the table's comment (nothing at parse time). -#}
{% macro record_resume_state() -%}
    {%- if execute -%}
        comment on table {{ this }} is '{{ tojson(resume_state()) }}'
    {%- endif -%}
{%- endmacro %}

{#- The state the last build recorded, when this build can resume from it; else none, and
    the log says why (no personal data: table names and counts). -#}
{% macro resumable_state(quiet=false) -%}
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
    {%- set inputs = resume_inputs() -%}
    {%- set current = resume_build(inputs) -%}
    {%- set reason = none -%}
    {%- if not (recorded is mapping and recorded.get('tables') is mapping) -%}
        {%- set reason = 'no state recorded' -%}
    {%- elif flags.FULL_REFRESH -%}
        {#- A model kept through a full refresh (full_refresh=false: the consent history)
            compares everything on one: whatever made it needed may be outside the state. -#}
        {%- set reason = 'a full refresh' -%}
    {%- elif recorded.code != current.code -%}
        {%- set reason = 'the code changed' -%}
    {%- elif inputs.dated and not var('as_of', none) -%}
        {#- current_date could change between this check and the pre-hook's. -#}
        {%- set reason = 'no scoring date given' -%}
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
            {%- set replaced = through and name in inputs.versioned %}
            select
                '{{ name }}',
                count(*) filter (where loaded_at is null {%- if through %} or loaded_at <= {{ through }}{% endif %}),
                {% if through %}coalesce(max(loaded_at) >= {{ through }}, false){% else %}true{% endif %},
                count(*),
                {% if replaced -%}
                count(*) filter (where loaded_at > {{ through }} and first_loaded_at <= {{ through }}),
                {#- An unknown identified_at (a version staged without a loaded_at) is taken as changed. #}
                count(*) filter (
                    where loaded_at > {{ through }} and first_loaded_at <= {{ through }}
                        and coalesce(identified_at > {{ through }}, true)
                )
                {%- else -%}
                0, 0
                {%- endif %}
            from {{ relations[name] }}
            {{- " union all" if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {#- The tables of config meta replaced_rows_are_new may have fewer rows up to the
            recorded one: there a staged row leaves only when a newer version of its key
            replaces it (erasures make a full refresh), and what the model computed from the
            older version it computes again from the newer one. -#}
        {%- set replaced_as_new = config.get('meta', {}).get('replaced_rows_are_new', []) -%}
        {#- A model may not follow the new rows of some tables (meta new_rows_rebuild: the
            events, whose times several actions take): any of them makes it compute all. -#}
        {%- set rebuilt_on_new_rows = config.get('meta', {}).get('new_rows_rebuild', []) -%}
        {#- A versioned table's rows up to the recorded one are still there or were replaced
            since (macros/record_versions.sql); a replaced record is one more new row when its
            identifiers are those it had at the state. -#}
        {%- set changed = [] -%}
        {%- set reidentified = [] -%}
        {%- set grown = [] -%}
        {%- for row in run_query(query) -%}
            {%- set recorded_rows = recorded.tables[row[0]].row_count -%}
            {%- set kept_rows = row[1] | int + row[4] | int -%}
            {%- if not row[2] or kept_rows > recorded_rows
                or (kept_rows < recorded_rows and row[0] not in replaced_as_new) -%}
                {%- do changed.append(row[0]) -%}
            {%- elif row[5] | int > 0 -%}
                {%- do reidentified.append(row[0]) -%}
            {%- elif row[0] in rebuilt_on_new_rows and row[3] | int > row[1] | int -%}
                {%- do grown.append(row[0]) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set behind = [] if changed or reidentified or grown else upstream_behind(staged_tables(inputs.staged)) -%}
        {%- if changed -%}
            {%- set reason = changed | sort | join(', ') ~ ' changed before its recorded rows' -%}
        {%- elif reidentified -%}
            {%- set reason = reidentified | sort | join(', ') ~ ' re-delivered a record with other identifiers' -%}
        {%- elif grown -%}
            {%- set reason = grown | sort | join(', ') ~ ' has new rows' -%}
        {%- elif behind -%}
            {%- set reason = behind | join(', ') ~ ' not built since rows were staged' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if not quiet -%}
        {{ log(this.identifier ~ ': ' ~ ('built from every row (' ~ reason ~ ')' if reason else 'resumed'), info=true) }}
    {%- endif -%}
    {{ return(none if reason else recorded) }}
{%- endmacro %}

{#- Pre-hook: an incremental build that cannot resume starts from an empty table, in the same
    transaction, so that it writes every row once and keeps none that no longer exists. -#}
{% macro forget_unless_resumable() -%}
    {%- if execute and is_incremental() and resumable_state(quiet=true) is none -%}
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
