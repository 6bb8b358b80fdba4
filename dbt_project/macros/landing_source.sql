{#-
    A landing source as a relation that always exists and always has the documented columns.

    The source's external_location is a read_parquet() over a glob; DuckDB raises when the
    glob matches no file (a source not fetched yet). At run time we count the files and, when
    there are none, return an empty relation with every column documented in the source YAML
    (all VARCHAR, as landed). When there are files, the union by name also adds any documented
    column that no file carries yet, so staging never fails on an optional field.
-#}
{% macro landing_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- set columns = node.columns.keys() | list -%}
    {%- set location = relation.external or '' -%}
    {%- set file_glob = location.split("'")[1] if "'" in location else none -%}
    {%- if file_glob is none -%}
        {{ exceptions.raise_compiler_error(
            "source " ~ source_name ~ "." ~ table_name ~ " has no read_parquet external_location") }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from glob('" ~ file_glob ~ "')").columns[0].values()[0] -%}
    (
        select
        {%- for column in columns %}
            cast(null as varchar) as {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
        {%- if found > 0 %}
        union all by name
        select * from {{ relation }}
        {%- endif %}
    )
{%- endmacro %}
