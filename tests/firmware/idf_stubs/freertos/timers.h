#pragma once
#include "freertos/FreeRTOS.h"
typedef struct tmrTimerControl *TimerHandle_t;
typedef void (*TimerCallbackFunction_t)(TimerHandle_t timer);
TimerHandle_t xTimerCreate(const char *name, TickType_t period, UBaseType_t auto_reload, void *timer_id,
                           TimerCallbackFunction_t callback);
BaseType_t xTimerChangePeriod(TimerHandle_t timer, TickType_t new_period, TickType_t ticks_to_wait);
