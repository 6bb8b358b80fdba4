-- The register is never empty and lists every table of the marts, restricted and compliance
-- schemas, except compliance.gate_results: the gates write it after the build (contracts §5).
with register as (
    select * from {{ ref('register_of_processing') }}
),

built as (
    select table_name
    from information_schema.tables
    where
        table_catalog = current_database()
        and table_schema in ('marts', 'restricted', 'compliance')
        and not (table_schema = 'compliance' and table_name = 'gate_results')
),

missing as (
    select built.table_name as missing_model
    from built
    left join register on built.table_name = register.model_name
    where register.model_name is null
),

empty_register as (
    select 'register is empty' as missing_model
    where not exists (select 1 from register)
)

select * from missing
union all
select * from empty_register
